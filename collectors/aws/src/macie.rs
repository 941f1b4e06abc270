//! Amazon Macie: the session and the automated sensitive data discovery
//! configuration of every covered region.

use evident_policies::aws::macie::{
    AutomatedDiscovery, MacieObservation, MacieSession, RegionMacie,
};
use evident_policies::aws::Reading;

use crate::backup::utc;
use crate::error::{classify, code_of, malformed};
use crate::Ctx;

pub(crate) async fn observe(ctx: &Ctx) -> MacieObservation {
    let regions =
        futures_util::future::join_all(ctx.settings.regions.iter().map(|region| async move {
            let client = aws_sdk_macie2::Client::new(&ctx.conf_in(region));
            let session = session(&client, region).await;
            let enabled = matches!(&session, Reading::Ok(Some(s)) if s.status == "ENABLED");
            let automated_discovery = if enabled {
                Some(discovery(&client, region).await)
            } else {
                None
            };
            RegionMacie {
                region: region.clone(),
                session,
                automated_discovery,
            }
        }))
        .await;
    MacieObservation {
        account_id: ctx.account_id.clone(),
        partition: ctx.partition.clone(),
        regions,
    }
}

async fn session(client: &aws_sdk_macie2::Client, region: &str) -> Reading<Option<MacieSession>> {
    let op = "macie2:GetMacieSession";
    match client.get_macie_session().send().await {
        Ok(s) => match s.status() {
            Some(st) => Reading::Ok(Some(MacieSession {
                status: st.as_str().to_string(),
                created_at: s.created_at().and_then(utc),
                updated_at: s.updated_at().and_then(utc),
            })),
            None => Reading::Error(malformed(op, region, "no status in the answer")),
        },
        Err(e) => {
            let classified = classify(op, region, &e);
            // Macie answers a call in a region where it is not enabled with
            // AccessDeniedException "Macie is not enabled" (and emulators
            // with ResourceNotFoundException); any other denial is an error.
            let not_enabled = match code_of(&e) {
                Some("ResourceNotFoundException") => true,
                Some("AccessDeniedException") => classified
                    .message
                    .to_ascii_lowercase()
                    .contains("macie is not enabled"),
                _ => false,
            };
            if not_enabled {
                Reading::Ok(None)
            } else {
                Reading::Error(classified)
            }
        }
    }
}

async fn discovery(client: &aws_sdk_macie2::Client, region: &str) -> Reading<AutomatedDiscovery> {
    let op = "macie2:GetAutomatedDiscoveryConfiguration";
    match client.get_automated_discovery_configuration().send().await {
        Ok(a) => match a.status() {
            Some(st) => Reading::Ok(AutomatedDiscovery {
                status: st.as_str().to_string(),
                first_enabled_at: a.first_enabled_at().and_then(utc),
                last_updated_at: a.last_updated_at().and_then(utc),
                disabled_at: a.disabled_at().and_then(utc),
            }),
            None => Reading::Error(malformed(op, region, "no status in the answer")),
        },
        Err(e) => Reading::Error(classify(op, region, &e)),
    }
}
