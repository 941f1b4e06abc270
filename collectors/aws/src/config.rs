//! AWS Config: the recorders, their status and the delivery channels of
//! every covered region.

use evident_policies::aws::config::{
    ConfigObservation, DeliveryChannel, Recorder, RecorderStatus, RegionConfig,
};
use evident_policies::aws::Reading;

use crate::error::{classify, malformed};
use crate::Ctx;

pub(crate) async fn observe(ctx: &Ctx) -> ConfigObservation {
    let regions =
        futures_util::future::join_all(ctx.settings.regions.iter().map(|region| async move {
            let client = aws_sdk_config::Client::new(&ctx.conf_in(region));
            let (recorders, statuses, delivery_channels) = tokio::join!(
                recorders(&client, region),
                statuses(&client, region),
                channels(&client, region)
            );
            RegionConfig {
                region: region.clone(),
                recorders,
                statuses,
                delivery_channels,
            }
        }))
        .await;
    ConfigObservation {
        account_id: ctx.account_id.clone(),
        partition: ctx.partition.clone(),
        settings: ctx.settings.config_recorder.clone(),
        regions,
    }
}

async fn recorders(client: &aws_sdk_config::Client, region: &str) -> Reading<Vec<Recorder>> {
    let op = "config:DescribeConfigurationRecorders";
    let out = match client.describe_configuration_recorders().send().await {
        Ok(o) => o,
        Err(e) => return Reading::Error(classify(op, region, &e)),
    };
    let mut list = Vec::new();
    for r in out.configuration_recorders() {
        let Some(name) = r.name() else {
            return Reading::Error(malformed(op, region, "a recorder has no name"));
        };
        let g = r.recording_group();
        list.push(Recorder {
            name: name.to_string(),
            arn: r.arn().map(str::to_string),
            // No recording group: the documented default, all supported types.
            all_supported: g.is_none_or(|g| g.all_supported()),
            include_global_resource_types: g.is_some_and(|g| g.include_global_resource_types()),
            resource_types: g
                .map(|g| {
                    g.resource_types()
                        .iter()
                        .map(|t| t.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            excluded_resource_types: g
                .and_then(|g| g.exclusion_by_resource_types())
                .map(|x| {
                    x.resource_types()
                        .iter()
                        .map(|t| t.as_str().to_string())
                        .collect()
                })
                .unwrap_or_default(),
            strategy: g
                .and_then(|g| g.recording_strategy())
                .and_then(|s| s.use_only())
                .map(|u| u.as_str().to_string()),
            service_principal: r.service_principal().map(str::to_string),
        });
    }
    Reading::Ok(list)
}

async fn statuses(client: &aws_sdk_config::Client, region: &str) -> Reading<Vec<RecorderStatus>> {
    let op = "config:DescribeConfigurationRecorderStatus";
    let out = match client.describe_configuration_recorder_status().send().await {
        Ok(o) => o,
        Err(e) => return Reading::Error(classify(op, region, &e)),
    };
    let mut list = Vec::new();
    for s in out.configuration_recorders_status() {
        let Some(name) = s.name() else {
            return Reading::Error(malformed(op, region, "a recorder status has no name"));
        };
        list.push(RecorderStatus {
            name: name.to_string(),
            recording: s.recording(),
            last_status: s.last_status().map(|x| x.as_str().to_string()),
            last_error_code: s.last_error_code().map(str::to_string),
        });
    }
    Reading::Ok(list)
}

async fn channels(client: &aws_sdk_config::Client, region: &str) -> Reading<Vec<DeliveryChannel>> {
    let op = "config:DescribeDeliveryChannels";
    let out = match client.describe_delivery_channels().send().await {
        Ok(o) => o,
        Err(e) => return Reading::Error(classify(op, region, &e)),
    };
    let mut list = Vec::new();
    for c in out.delivery_channels() {
        let Some(name) = c.name() else {
            return Reading::Error(malformed(op, region, "a delivery channel has no name"));
        };
        list.push(DeliveryChannel {
            name: name.to_string(),
            s3_bucket_name: c.s3_bucket_name().map(str::to_string),
        });
    }
    Reading::Ok(list)
}
