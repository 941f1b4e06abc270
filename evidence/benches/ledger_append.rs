//! `cargo bench -p evident-evidence --bench ledger_append`: builds a ledger of
//! 100 000 records, then times appending one run of 100 records and verifying
//! the whole ledger. Prints timings; asserts nothing about them.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use evident_evidence::ledger::Ledger;
use evident_evidence::record::{Record, SoaDecisionRecord, FRAMEWORK, SCHEMA_VERSION};
use evident_evidence::signing::MemorySigner;
use evident_evidence::verify::verify_ledger;

fn soa(i: u64) -> Record {
    Record::SoaDecision(SoaDecisionRecord {
        schema_version: SCHEMA_VERSION,
        record_id: format!("rec-{i:08}"),
        run_id: format!("run-{}", i / 1000),
        agent_id: "bench".into(),
        framework: FRAMEWORK.into(),
        control: format!("A.5.{}", i % 37 + 1),
        applicable: Some(i % 3 != 0),
        justification: Some("benchmark justification text of a typical length".into()),
        recorded_at: Utc
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .expect("time"),
        tool_version: "evident bench".into(),
    })
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = MemorySigner::generate().expect("key");
    let mut l = Ledger::open(dir.path().join("bench.db")).expect("open");
    let t = Instant::now();
    for run in 0..100u64 {
        let recs: Vec<Record> = (run * 1000..(run + 1) * 1000).map(soa).collect();
        l.append_run(&[], &recs, &signer, "bench", Utc::now())
            .expect("append");
    }
    println!("build 100 runs x 1000 records: {:?}", t.elapsed());

    let recs: Vec<Record> = (100_000..100_100).map(soa).collect();
    let t = Instant::now();
    let cp = l
        .append_run(&[], &recs, &signer, "bench", Utc::now())
        .expect("append");
    println!(
        "append 100 records to 100 000: {:?} (size {})",
        t.elapsed(),
        cp.tree_size
    );

    let t = Instant::now();
    let report = verify_ledger(&l, None).expect("verify");
    println!(
        "verify {} records, {} checkpoints: {:?}, ok={}",
        report.records,
        report.checkpoints,
        t.elapsed(),
        report.is_ok()
    );
}
