//! Backend outages.
