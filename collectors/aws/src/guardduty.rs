//! GuardDuty: the detectors of every covered region.

use evident_policies::aws::guardduty::{Detector, GuardDutyObservation, RegionDetectors};
use evident_policies::aws::Reading;

use crate::error::{classify, malformed};
use crate::Ctx;

pub(crate) async fn observe(ctx: &Ctx) -> GuardDutyObservation {
    let mut regions = Vec::new();
    for region in &ctx.settings.regions {
        regions.push(RegionDetectors {
            region: region.clone(),
            detectors: detectors(ctx, region).await,
        });
    }
    GuardDutyObservation {
        account_id: ctx.account_id.clone(),
        partition: ctx.partition.clone(),
        regions,
    }
}

async fn detectors(ctx: &Ctx, region: &str) -> Reading<Vec<Detector>> {
    let client = aws_sdk_guardduty::Client::new(&ctx.conf_in(region));
    let mut ids = Vec::new();
    let mut pages = client.list_detectors().into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(p) => ids.extend(p.detector_ids().iter().cloned()),
            Err(e) => return Reading::Error(classify("guardduty:ListDetectors", region, &e)),
        }
    }
    let mut out = Vec::new();
    for id in ids {
        match client.get_detector().detector_id(&id).send().await {
            Ok(d) => match d.status() {
                Some(s) => out.push(Detector {
                    enabled: s.as_str() == "ENABLED",
                    id,
                }),
                None => {
                    return Reading::Error(malformed(
                        "guardduty:GetDetector",
                        region,
                        format!("detector {id} has no Status"),
                    ))
                }
            },
            Err(e) => return Reading::Error(classify("guardduty:GetDetector", region, &e)),
        }
    }
    Reading::Ok(out)
}
