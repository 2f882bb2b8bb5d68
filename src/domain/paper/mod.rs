//! Paper originals (实体档案): where each document's paper is kept, signing it out to a named
//! person and back in with its condition, losses, the sign-out register and stocktakes.

pub(super) mod cases;
pub(super) mod custody;
pub(super) mod register;

pub use cases::SignOutRequest;
pub use custody::{
    HolderContact, HolderName, Misplaced, Paper, PaperCondition, PaperEvent, PaperHolder,
    PaperLocation, PaperLoss, PaperPlace, PaperState, PlaceName, PlaceNumber, SignIn, SignOut,
    StocktakePlace, StocktakeReport,
};
pub use register::{MAX_STOCKTAKE_ITEMS, SignOutQuery};
