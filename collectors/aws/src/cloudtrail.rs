//! CloudTrail: the trails seen from the account, with their status and
//! management-event selectors (asked in each trail's home region).

use aws_sdk_cloudtrail::types::ReadWriteType;
use chrono::DateTime;
use evident_policies::aws::cloudtrail::{
    CloudTrailObservation, ManagementEvents, Trail, TrailStatus,
};
use evident_policies::aws::Reading;

use crate::error::{classify, malformed};
use crate::Ctx;

pub(crate) async fn observe(ctx: &Ctx) -> CloudTrailObservation {
    CloudTrailObservation {
        account_id: ctx.account_id.clone(),
        partition: ctx.partition.clone(),
        region: ctx.region.clone(),
        trails: trails(ctx).await,
    }
}

async fn trails(ctx: &Ctx) -> Reading<Vec<Trail>> {
    let op = "cloudtrail:DescribeTrails";
    let client = aws_sdk_cloudtrail::Client::new(&ctx.conf);
    let out = match client
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) => return Reading::Error(classify(op, &ctx.region, &e)),
    };
    let mut list = Vec::new();
    for t in out.trail_list() {
        let (Some(arn), Some(name)) = (t.trail_arn(), t.name()) else {
            return Reading::Error(malformed(
                op,
                &ctx.region,
                "a trail has no TrailARN or Name",
            ));
        };
        let home = t.home_region().unwrap_or(&ctx.region).to_string();
        let home_client = aws_sdk_cloudtrail::Client::new(&ctx.conf_in(&home));
        let status = match home_client.get_trail_status().name(arn).send().await {
            Ok(s) => match s.is_logging() {
                Some(is_logging) => Reading::Ok(TrailStatus {
                    is_logging,
                    latest_cloudwatch_delivery: s
                        .latest_cloud_watch_logs_delivery_time()
                        .and_then(|t| DateTime::from_timestamp(t.secs(), 0)),
                }),
                None => Reading::Error(malformed(
                    "cloudtrail:GetTrailStatus",
                    &home,
                    "no IsLogging in the answer",
                )),
            },
            Err(e) => Reading::Error(classify("cloudtrail:GetTrailStatus", &home, &e)),
        };
        // A trail without custom event selectors logs all read and write
        // management events (the documented default), so there is nothing to ask.
        let management_events = if t.has_custom_event_selectors() == Some(false) {
            Reading::Ok(ManagementEvents {
                read: true,
                write: true,
            })
        } else {
            selectors(&home_client, arn, &home).await
        };
        list.push(Trail {
            arn: arn.to_string(),
            name: name.to_string(),
            home_region: home,
            multi_region: t.is_multi_region_trail().unwrap_or(false),
            organization_trail: t.is_organization_trail().unwrap_or(false),
            log_file_validation: t.log_file_validation_enabled().unwrap_or(false),
            kms_key_id: t.kms_key_id().map(str::to_string),
            cloudwatch_log_group_arn: t.cloud_watch_logs_log_group_arn().map(str::to_string),
            status,
            management_events,
        });
    }
    Reading::Ok(list)
}

async fn selectors(
    client: &aws_sdk_cloudtrail::Client,
    arn: &str,
    home: &str,
) -> Reading<ManagementEvents> {
    match client.get_event_selectors().trail_name(arn).send().await {
        Ok(s) => {
            let mut m = ManagementEvents {
                read: false,
                write: false,
            };
            for sel in s.event_selectors() {
                if sel.include_management_events() != Some(false) {
                    match sel.read_write_type() {
                        Some(ReadWriteType::ReadOnly) => m.read = true,
                        Some(ReadWriteType::WriteOnly) => m.write = true,
                        // Absent means All (the documented default).
                        _ => {
                            m.read = true;
                            m.write = true;
                        }
                    }
                }
            }
            for adv in s.advanced_event_selectors() {
                let fields = adv.field_selectors();
                let management = fields.iter().any(|f| {
                    f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management")
                });
                if !management {
                    continue;
                }
                match fields
                    .iter()
                    .find(|f| f.field() == "readOnly")
                    .map(|f| f.equals())
                {
                    Some(v) if v.iter().any(|x| x == "true") && !v.iter().any(|x| x == "false") => {
                        m.read = true
                    }
                    Some(v) if v.iter().any(|x| x == "false") && !v.iter().any(|x| x == "true") => {
                        m.write = true
                    }
                    _ => {
                        m.read = true;
                        m.write = true;
                    }
                }
            }
            Reading::Ok(m)
        }
        Err(e) => Reading::Error(classify("cloudtrail:GetEventSelectors", home, &e)),
    }
}
