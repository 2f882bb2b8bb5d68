//! The holders of an account — everyone who held it and every value they had — as the mask
//! of the free text written about it (see `access::free_text`).

use std::collections::HashMap;

use crate::domain::access::free_text::FreeTextMask;
use crate::domain::{AccountNumber, Archive, Error, Grant, PersonalData};

/// How many of an account's revisions lend their values to the mask: every holder and every
/// former phone or address of an ordinary account, bounded so that a pathological history
/// cannot make a read slow.
const HOLDER_REVISIONS: usize = 64;

impl Archive {
    /// The mask for free text about one account, or `None` for a grant that sees personal
    /// data in full (which then costs no query).
    pub(crate) async fn free_text_mask(
        &self,
        grant: &Grant<'_>,
        account: &AccountNumber,
    ) -> Result<Option<FreeTextMask>, Error> {
        self.free_text_mask_as(grant.personal_data(), account).await
    }

    /// The mask for free text about one account for a reader who sees personal data as
    /// `personal_data` (a borrower sees it as the loan's approver chose).
    pub(crate) async fn free_text_mask_as(
        &self,
        personal_data: PersonalData,
        account: &AccountNumber,
    ) -> Result<Option<FreeTextMask>, Error> {
        if personal_data == PersonalData::Full {
            return Ok(None);
        }
        // Every revision, the current one included: a title written before a transfer names
        // the former holder, and an old title the old phone number.
        let revisions = self
            .db
            .customer_revisions(account, None, HOLDER_REVISIONS)
            .await?;
        Ok(Some(FreeTextMask::for_holders(
            revisions.iter().map(|revision| &revision.customer),
        )))
    }

    /// The masks for free text about several accounts, in one query; empty for a grant that
    /// sees personal data in full.
    pub(crate) async fn free_text_masks(
        &self,
        grant: &Grant<'_>,
        accounts: &[&str],
    ) -> Result<HashMap<String, FreeTextMask>, Error> {
        self.free_text_masks_as(grant.personal_data(), accounts)
            .await
    }

    /// The masks for free text about several accounts for a reader who sees personal data as
    /// `personal_data`.
    pub(crate) async fn free_text_masks_as(
        &self,
        personal_data: PersonalData,
        accounts: &[&str],
    ) -> Result<HashMap<String, FreeTextMask>, Error> {
        if personal_data == PersonalData::Full || accounts.is_empty() {
            return Ok(HashMap::new());
        }
        let mut by_account: HashMap<String, Vec<_>> = HashMap::new();
        for revision in self.db.customer_revisions_of(accounts).await? {
            by_account
                .entry(revision.customer.account_number.as_str().to_owned())
                .or_default()
                .push(revision.customer);
        }
        Ok(by_account
            .into_iter()
            .map(|(account, holders)| (account, FreeTextMask::for_holders(&holders)))
            .collect())
    }
}
