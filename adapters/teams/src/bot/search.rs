//! Typeahead (`application/search`) for forms with many accounts or groups, and the
//! permission sets of the account picked on the card: the caller's requestable choices whose
//! name or id contains the typed text, at most 15.

use actix_web::HttpResponse;
use serde_json::Value;

use super::{Bot, responses};
use crate::activity::Activity;
use crate::cards::{TYPEAHEAD_LIMIT, dataset, field};

impl Bot {
    /// Typeahead (`application/search`): the caller's requestable accounts or groups whose
    /// name or id contains the typed text, at most 15.
    pub(crate) async fn on_search(&self, activity: &Activity) -> HttpResponse {
        let empty = Value::Null;
        let value = activity.value.as_ref().unwrap_or(&empty);
        let query = value
            .get("queryText")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        let wanted = value
            .get("dataset")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let options = value.get("queryOptions");
        let skip = options
            .and_then(|o| o.get("skip"))
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let top = options
            .and_then(|o| o.get("top"))
            .and_then(Value::as_u64)
            .map_or(TYPEAHEAD_LIMIT, |top| (top as usize).min(TYPEAHEAD_LIMIT));
        let caller = match self.identify(activity).await {
            Ok(caller) => caller,
            Err(error) => {
                tracing::warn!(%error, "Could not identify a Teams user for a search.");
                return responses::search(&[]);
            }
        };
        let Ok(facts) = self.facts(&caller).await else {
            return responses::search(&[]);
        };
        let candidates: Vec<(String, String)> = match wanted {
            dataset::ACCOUNTS => match self.service.requestable_accounts(&facts).await {
                Ok(accounts) => accounts
                    .into_iter()
                    .map(|a| (format!("{} ({})", a.name, a.id), a.id.to_string()))
                    .collect(),
                Err(_) => Vec::new(),
            },
            // Dependent choice: the sets of the account picked on the same card, which Teams
            // sends with the search (`associatedInputs: auto`); none before one is picked.
            dataset::PERMISSION_SETS => {
                let account = value
                    .get("data")
                    .and_then(|data| data.get(field::ACCOUNT))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim();
                if account.is_empty() {
                    Vec::new()
                } else {
                    match self
                        .service
                        .requestable_permission_sets(&facts, account)
                        .await
                    {
                        Ok(sets) => sets.into_iter().map(|set| (set.clone(), set)).collect(),
                        Err(_) => Vec::new(),
                    }
                }
            }
            dataset::GROUPS => match self.service.requestable_groups(&facts).await {
                Ok(groups) => groups.into_iter().map(|g| (g.name, g.id)).collect(),
                Err(_) => Vec::new(),
            },
            _ => Vec::new(),
        };
        let results: Vec<(String, String)> = candidates
            .into_iter()
            .filter(|(title, _)| query.is_empty() || title.to_lowercase().contains(&query))
            .skip(skip)
            .take(top)
            .collect();
        responses::search(&results)
    }
}
