//! Exports validated against their published schemas, offline.

use crate::support::*;

fn oscal_validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            workspace_root().join("tests/e2e/fixtures/oscal_assessment-results_schema.json"),
        )
        .expect("schema fixture"),
    )
    .expect("schema is JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schema compiles")
}

#[test]
fn oscal_assessment_results_validate_against_the_schema() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "oscal.toml",
        "[[collectors.host]]\n[soa.controls.\"A.8.8\"]\napplicable = true\njustification = \"updates\"\n",
    );
    assert_code(&sb.evident_with(&cfg, &["collect"]), 0);
    assert_code(&sb.evident_with(&cfg, &["collect"]), 0);
    let out = sb.dir.path().join("ar.json");
    let o = sb.evident_with(
        &cfg,
        &["export", "oscal", "--out", out.to_str().expect("utf8")],
    );
    assert_code(&o, 0);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("written")).expect("JSON");
    let validator = oscal_validator();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let result = &doc["assessment-results"]["results"][0];
    let observations = result["observations"].as_array().expect("observations");
    let findings = result["findings"].as_array().expect("findings");
    // Two runs of the host checks: an observation per finding record.
    assert!(observations.len() >= 2 * 9, "{}", observations.len());
    assert!(findings
        .iter()
        .any(|f| f["title"].as_str().is_some_and(|t| t.starts_with("A.8.8 "))));
    // Evidence links carry SHA-256 hashes.
    let resources = doc["assessment-results"]["back-matter"]["resources"]
        .as_array()
        .expect("resources");
    assert!(resources
        .iter()
        .all(|r| r["rlinks"][0]["hashes"][0]["algorithm"] == "SHA-256"));
    // The same ledger exports the same document (stable UUIDs) for the same period.
    let until = doc["assessment-results"]["results"][0]["end"]
        .as_str()
        .expect("end")
        .to_string();
    let a = sb.evident_with(&cfg, &["export", "oscal", "--until", &until]);
    let b = sb.evident_with(&cfg, &["export", "oscal", "--until", &until]);
    assert_code(&a, 0);
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn the_schema_check_is_not_vacuous() {
    // A document missing required parts must fail the same validator.
    let bad = serde_json::json!({"assessment-results": {"uuid": "not-a-uuid", "metadata": {}}});
    assert!(oscal_validator().iter_errors(&bad).count() >= 2);
}

#[test]
fn soa_exports_as_a_workbook_and_a_self_contained_page() {
    let sb = Sandbox::new();
    let cfg = sb.write(
        "soa.toml",
        "[[collectors.host]]\n[soa.controls.\"A.5.1\"]\napplicable = true\njustification = \"<script>alert(1)</script> & =1+1\"\n",
    );
    assert_code(&sb.evident_with(&cfg, &["collect"]), 0);
    let html = sb.dir.path().join("soa.html");
    assert_code(
        &sb.evident_with(
            &cfg,
            &["export", "soa-html", "--out", html.to_str().expect("utf8")],
        ),
        0,
    );
    let page = std::fs::read_to_string(&html).expect("html");
    assert_eq!(page.matches("<tr class=").count(), 93);
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; =1+1"));
    assert!(!page.contains("<script>") && !page.contains("src=") && !page.contains("href="));
    let xlsx = sb.dir.path().join("soa.xlsx");
    assert_code(
        &sb.evident_with(
            &cfg,
            &["export", "soa-xlsx", "--out", xlsx.to_str().expect("utf8")],
        ),
        0,
    );
    // Read the sheet back with Python's zipfile (CI has python3).
    let o = run(std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile, re\n\
         z = zipfile.ZipFile(sys.argv[1])\n\
         sheet = z.read('xl/worksheets/sheet1.xml').decode()\n\
         strings = z.read('xl/sharedStrings.xml').decode()\n\
         print(len(re.findall('<row ', sheet)), '=1+1' in strings, '<f>' in sheet)",
        )
        .arg(&xlsx));
    assert_code(&o, 0);
    // 93 controls and a header; the formula-like text stays text.
    assert_eq!(stdout(&o).trim(), "94 True False");
}
