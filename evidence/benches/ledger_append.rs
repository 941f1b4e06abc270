//! `cargo bench -p evident-evidence --bench ledger_append`: append and verify
//! throughput for ledgers of 100 000 records. Prints timings; asserts nothing
//! about them (a benchmark, not a test). Results: `bench/RESULTS.md`.
//!
//! Measured:
//! * appending 100 000 records in runs of 100 and of 1 000 records
//!   (`append_run`: one transaction, one signed checkpoint and one fsync'd
//!   commit per run), into a fresh ledger file;
//! * one more run of 100 records into the 100 000-record ledger;
//! * full `verify_ledger` of the 100 000-record ledger;
//! * `verify_since_checkpoint` from its first checkpoint and `prove_record`.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use evident_evidence::ledger::Ledger;
use evident_evidence::proof::prove_record;
use evident_evidence::record::{Record, SoaDecisionRecord, FRAMEWORK, SCHEMA_VERSION};
use evident_evidence::signing::MemorySigner;
use evident_evidence::since::verify_since_checkpoint;
use evident_evidence::verify::verify_ledger;

const TOTAL: u64 = 100_000;

fn soa(i: u64) -> Record {
    Record::SoaDecision(SoaDecisionRecord {
        schema_version: SCHEMA_VERSION,
        record_id: format!("rec-{i:08}"),
        run_id: format!("run-{}", i / 1000),
        agent_id: "bench".into(),
        framework: FRAMEWORK.into(),
        control: format!("A.5.{}", i % 37 + 1),
        applicable: Some(!i.is_multiple_of(3)),
        justification: Some("benchmark justification text of a typical length".into()),
        recorded_at: Utc
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .expect("time"),
        tool_version: "evident bench".into(),
    })
}

fn rate(n: u64, d: Duration) -> String {
    format!("{:.0} records/s", n as f64 / d.as_secs_f64())
}

/// Append `TOTAL` records in runs of `run` into a fresh ledger at `path`.
fn fill(path: &std::path::Path, run: u64, signer: &MemorySigner) -> Ledger {
    let mut l = Ledger::open(path).expect("open");
    // Records are built outside the timed section.
    let runs: Vec<Vec<Record>> = (0..TOTAL / run)
        .map(|r| (r * run..(r + 1) * run).map(soa).collect())
        .collect();
    let t = Instant::now();
    for recs in &runs {
        l.append_run(&[], recs, signer, "bench", Utc::now())
            .expect("append");
    }
    let d = t.elapsed();
    println!(
        "append {TOTAL} records in runs of {run:>5}: {d:>10.3?}  {}",
        rate(TOTAL, d)
    );
    l
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = MemorySigner::generate().expect("key");

    drop(fill(&dir.path().join("runs100.db"), 100, &signer));
    let mut l = fill(&dir.path().join("runs1000.db"), 1000, &signer);

    let recs: Vec<Record> = (TOTAL..TOTAL + 100).map(soa).collect();
    let t = Instant::now();
    let cp = l
        .append_run(&[], &recs, &signer, "bench", Utc::now())
        .expect("append");
    println!(
        "append 100 records to {TOTAL} (same handle): {:?} (size {})",
        t.elapsed(),
        cp.tree_size
    );
    drop(l);
    let mut l = Ledger::open(dir.path().join("runs1000.db")).expect("open");
    let recs: Vec<Record> = (TOTAL + 100..TOTAL + 200).map(soa).collect();
    let t = Instant::now();
    l.append_run(&[], &recs, &signer, "bench", Utc::now())
        .expect("append");
    println!(
        "append 100 records to {} (fresh handle, full leaf-hash check): {:?}",
        TOTAL + 100,
        t.elapsed()
    );
    drop(l);

    let l = Ledger::open_read_only(dir.path().join("runs1000.db")).expect("open");
    for _ in 0..3 {
        let t = Instant::now();
        let report = verify_ledger(&l, None).expect("verify");
        let d = t.elapsed();
        println!(
            "verify_ledger {} records, {} checkpoints: {d:>10.3?}  {}  ok={}",
            report.records,
            report.checkpoints,
            rate(report.records, d),
            report.is_ok()
        );
    }

    // Parse + canonical re-encode of every record: the generic paths (derived
    // `Deserialize` of the tagged enum, `to_canonical` via `serde_json::Value`)
    // against the fast ones `verify_ledger` uses. Same process, interleaved,
    // so the ratio holds even on a loaded machine.
    let raw: Vec<Vec<u8>> = l
        .records_raw()
        .expect("raw")
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    for _ in 0..3 {
        let t = Instant::now();
        let mut ok = 0usize;
        for b in &raw {
            let r: Record = serde_json::from_slice(b).expect("parse");
            ok += usize::from(evident_evidence::canonical::to_canonical(&r) == *b);
        }
        let generic = t.elapsed();
        let t = Instant::now();
        let mut ok2 = 0usize;
        for b in &raw {
            let r = Record::from_bytes(b).expect("parse");
            ok2 += usize::from(r.to_canonical() == *b);
        }
        let fast = t.elapsed();
        assert_eq!(ok, ok2);
        println!(
            "parse + re-encode {} records: generic {generic:>10.3?}, fast {fast:>10.3?} ({:.1}x)",
            raw.len(),
            generic.as_secs_f64() / fast.as_secs_f64()
        );
    }

    let first = l
        .checkpoints()
        .expect("checkpoints")
        .into_iter()
        .next()
        .expect("one");
    let t = Instant::now();
    let r = verify_since_checkpoint(&l, &first, None).expect("since");
    println!(
        "verify_since_checkpoint from size {}: {:?} ok={} proof of {} hashes",
        first.tree_size,
        t.elapsed(),
        r.is_ok(),
        r.consistency.map_or(0, |c| c.proof.len())
    );
    let t = Instant::now();
    let p = prove_record(&l, "rec-00054321").expect("prove");
    println!(
        "prove_record: {:?} ({} bytes)",
        t.elapsed(),
        p.to_json_bytes().len()
    );
}
