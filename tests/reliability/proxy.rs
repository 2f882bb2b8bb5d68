//! A TCP proxy the test owns, between the server and one backend, that can be cut.
