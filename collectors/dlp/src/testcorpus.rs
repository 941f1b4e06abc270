//! A labelled corpus for accuracy tests: files with planted secrets and
//! personal data (each with its expected rule and line) and look-alikes that
//! must not be reported (Luhn-invalid numbers, placeholders, documentation
//! examples). The values are generated from a seed; none is a real credential.

use std::path::Path;

/// One planted item: the rule that must report it, where, and its value
/// (kept so tests can check that no output contains it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    /// Expected rule id.
    pub rule_id: &'static str,
    /// File path relative to the corpus root.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// The planted value.
    pub value: String,
}

/// The corpus: files and the items planted in them.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// `(relative path, content)`.
    pub files: Vec<(String, String)>,
    /// Items that must be found.
    pub planted: Vec<Planted>,
    /// Look-alike values that must not be found.
    pub decoys: Vec<String>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(alphabet[(self.next() % alphabet.len() as u64) as usize]))
            .collect()
    }
    fn digit(&mut self) -> u8 {
        (self.next() % 10) as u8
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const AWS_ID: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const HEX: &[u8] = b"0123456789abcdef";
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn b64url(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |a, (i, &b)| a | (u32::from(b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(B64URL[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn luhn_complete(body: &[u8]) -> u8 {
    for check in 0..10 {
        let mut d = body.to_vec();
        d.push(check);
        if crate::validate::luhn(&d) {
            return check;
        }
    }
    0
}

fn card(rng: &mut Rng, prefix: &str, len: usize) -> Vec<u8> {
    loop {
        let mut d: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
        while d.len() < len - 1 {
            d.push(rng.digit());
        }
        let c = luhn_complete(&d);
        d.push(c);
        let zeros = d.iter().filter(|&&x| x == 0).count();
        if zeros * 2 < len {
            return d;
        }
    }
}

fn iban_de(rng: &mut Rng) -> String {
    let bban: String = (0..18).map(|_| char::from(b'0' + rng.digit())).collect();
    // Check digits: 98 - (BBAN + "DE00" as digits) mod 97.
    let rearranged = format!("{bban}131400");
    let rem = rearranged
        .bytes()
        .fold(0u32, |r, b| (r * 10 + u32::from(b - b'0')) % 97);
    format!("DE{:02}{bban}", 98 - rem)
}

fn group(d: &[u8], sep: &str, sizes: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    for (k, &s) in sizes.iter().enumerate() {
        if k > 0 {
            out.push_str(sep);
        }
        out.extend(d[i..i + s].iter().map(|x| char::from(b'0' + x)));
        i += s;
    }
    out
}

/// Generate the corpus from a seed.
pub fn generate(seed: u64) -> Corpus {
    let mut rng = Rng(seed | 1);
    let mut c = Corpus::default();
    let noise = [
        "fn main() { println!(\"hello\"); }",
        "# Configuration of the service; see the manual for details.",
        "The quick brown fox jumps over the lazy dog 1234 times.",
        "let token_count = tokens.len(); // not a secret",
        "password_policy = \"min length 12\"",
        "version = \"1.2.3\" build 20240101 port 8080",
        "call +1 555 0100 or visit the office at 221B",
    ];
    for n in 0..3 {
        let mut file: Vec<String> = Vec::new();
        let path = format!("src/module{n}/settings.env");
        let plant = |file: &mut Vec<String>,
                     c: &mut Corpus,
                     rule: &'static str,
                     line: String,
                     value: String| {
            file.push(noise[file.len() % noise.len()].to_string());
            file.push(line);
            c.planted.push(Planted {
                rule_id: rule,
                path: path.clone(),
                line: file.len() as u64,
                value,
            });
        };
        let key_id = format!("AKIA{}", rng.pick(AWS_ID, 16));
        plant(
            &mut file,
            &mut c,
            "aws-access-key-id",
            format!("aws_access_key_id = {key_id}"),
            key_id,
        );
        let secret = rng.pick(B64, 40);
        plant(
            &mut file,
            &mut c,
            "aws-secret-access-key",
            format!("aws_secret_access_key = {secret}"),
            secret,
        );
        let v = format!("ghp_{}", rng.pick(ALNUM, 36));
        plant(
            &mut file,
            &mut c,
            "github-token",
            format!("GITHUB_TOKEN={v}"),
            v,
        );
        let v = format!("glpat-{}", rng.pick(ALNUM, 20));
        plant(&mut file, &mut c, "gitlab-token", format!("gitlab: {v}"), v);
        let v = format!(
            "xoxb-{}-{}-{}",
            rng.pick(b"0123456789", 11),
            rng.pick(b"0123456789", 12),
            rng.pick(ALNUM, 24)
        );
        plant(
            &mut file,
            &mut c,
            "slack-token",
            format!("slack_bot = \"{v}\""),
            v,
        );
        let v = format!(
            "T{}/B{}/{}",
            rng.pick(UPPER_DIGITS, 8),
            rng.pick(UPPER_DIGITS, 10),
            rng.pick(ALNUM, 24)
        );
        plant(
            &mut file,
            &mut c,
            "slack-webhook",
            format!("hook: https://hooks.slack.com/services/{v}"),
            v,
        );
        let v = format!("sk_live_{}", rng.pick(ALNUM, 24));
        plant(
            &mut file,
            &mut c,
            "stripe-secret-key",
            format!("stripe.api_base = 1; STRIPE = '{v}'"),
            v,
        );
        let v = format!("npm_{}", rng.pick(ALNUM, 36));
        plant(
            &mut file,
            &mut c,
            "npm-token",
            format!("//registry.npmjs.org/:_authToken={v}"),
            v,
        );
        let v = format!("pypi-AgEIcHlwaS5vcmc{}", rng.pick(B64URL, 70));
        plant(
            &mut file,
            &mut c,
            "pypi-token",
            format!("password = {v}"),
            v,
        );
        let v = format!("SG.{}.{}", rng.pick(B64URL, 22), rng.pick(B64URL, 43));
        plant(
            &mut file,
            &mut c,
            "sendgrid-api-key",
            format!("SENDGRID={v}"),
            v,
        );
        let v = format!("SK{}", rng.pick(HEX, 32));
        plant(
            &mut file,
            &mut c,
            "twilio-api-key",
            format!("TWILIO_API_KEY={v}"),
            v,
        );
        let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload =
            b64url(format!(r#"{{"sub":"{}","iat":1700000000}}"#, rng.pick(HEX, 12)).as_bytes());
        let v = format!("{header}.{payload}.{}", rng.pick(B64URL, 43));
        plant(
            &mut file,
            &mut c,
            "jwt",
            format!("Authorization: Bearer {v}"),
            v,
        );
        let v = format!(
            "{}#{}!{}",
            rng.pick(ALNUM, 8),
            rng.pick(ALNUM, 6),
            rng.pick(ALNUM, 6)
        );
        plant(
            &mut file,
            &mut c,
            "generic-secret-assignment",
            format!("db_password = \"{v}\""),
            v,
        );
        let v = format!("{}==", rng.pick(B64, 86));
        plant(
            &mut file,
            &mut c,
            "azure-storage-account-key",
            format!("DefaultEndpointsProtocol=https;AccountName=acct{n};AccountKey={v};EndpointSuffix=core.windows.net"),
            v,
        );
        // Personal data.
        let d = card(&mut rng, "4", 16);
        let v = group(&d, " ", &[4, 4, 4, 4]);
        plant(
            &mut file,
            &mut c,
            "payment-card-number",
            format!("card: {v}"),
            v,
        );
        let d = card(&mut rng, "54", 16);
        let v = group(&d, "-", &[4, 4, 4, 4]);
        plant(
            &mut file,
            &mut c,
            "payment-card-number",
            format!("mc={v};"),
            v,
        );
        let d = card(&mut rng, "37", 15);
        let v = group(&d, "", &[15]);
        plant(
            &mut file,
            &mut c,
            "payment-card-number",
            format!("amex {v}"),
            v,
        );
        let v = iban_de(&mut rng);
        plant(&mut file, &mut c, "iban", format!("IBAN: {v}"), v);
        let v = format!(
            "{}.{}@corp-mail.de",
            rng.pick(b"abcdefghij", 5),
            rng.pick(b"klmnopqrst", 6)
        );
        plant(
            &mut file,
            &mut c,
            "email-address",
            format!("contact <{v}>"),
            v,
        );
        let area = 100 + rng.next() % 500; // 100..=599: issued range
        let grp = 1 + rng.next() % 99;
        let serial = 1 + rng.next() % 9999;
        let v = format!("{area:03}-{grp:02}-{serial:04}");
        plant(&mut file, &mut c, "us-ssn", format!("ssn {v}"), v);
        file.push(String::new());
        c.files.push((path.clone(), file.join("\n")));

        // Private keys and a GCP service account key, each in its own file.
        let body: Vec<String> = (0..12).map(|_| rng.pick(B64, 64)).collect();
        let path = format!("keys/id_rsa_{n}");
        c.files.push((
            path.clone(),
            format!(
                "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
                body.join("\n")
            ),
        ));
        c.planted.push(Planted {
            rule_id: "private-key",
            path,
            line: 2,
            value: body.join("\n"),
        });
        let body: Vec<String> = (0..8).map(|_| rng.pick(B64, 70)).collect();
        let path = format!("keys/id_ed25519_{n}");
        c.files.push((
            path.clone(),
            format!(
                "\n-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
                body.join("\n")
            ),
        ));
        c.planted.push(Planted {
            rule_id: "private-key",
            path,
            line: 3,
            value: body.join("\n"),
        });
        let lines: Vec<String> = (0..16).map(|_| rng.pick(B64, 64)).collect();
        let pk = format!("-----BEGIN PRIVATE KEY-----\\n{}\\n", lines.join("\\n"));
        let path = format!("gcp/service-account-{n}.json");
        c.files.push((
            path.clone(),
            format!(
                "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"proj-{n}\",\n  \"private_key\": \"{pk}-----END PRIVATE KEY-----\\n\",\n  \"client_email\": \"svc@proj-{n}.iam.gserviceaccount.com\"\n}}\n"
            ),
        ));
        c.planted.push(Planted {
            rule_id: "gcp-service-account-key",
            path,
            line: 4,
            value: pk,
        });
    }

    // Look-alikes: none of these may be reported.
    let valid = card(&mut rng, "4", 16);
    let mut invalid = valid.clone();
    invalid[15] = (invalid[15] + 1) % 10;
    let iban = iban_de(&mut rng);
    let bad_iban = format!(
        "DE{:02}{}",
        (iban[2..4].parse::<u32>().unwrap_or(0) + 1) % 100,
        &iban[4..]
    );
    let decoys = vec![
        "AKIAXXXXXXXXXXXXXXXX".to_string(),
        "AKIAIOSFODNN7EXAMPLE".to_string(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_string(),
        format!("ghp_{}", "x".repeat(36)),
        format!("sk_live_{}", "X".repeat(24)),
        format!("npm_{}", "0".repeat(36)),
        group(&invalid, " ", &[4, 4, 4, 4]),
        "4111 1111 1111 1111".to_string(),
        "4242424242424242".to_string(),
        "5555-5555-5555-4444".to_string(),
        "GB82 WEST 1234 5698 7654 32".to_string(),
        bad_iban,
        "jane.doe@example.com".to_string(),
        "noreply@service.test".to_string(),
        "666-12-3456".to_string(),
        "000-12-3456".to_string(),
        "912-12-3456".to_string(),
        "123-45-6789".to_string(),
        "${DB_PASSWORD}".to_string(),
        "changeme-changeme".to_string(),
        "<your-api-token-here>".to_string(),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0xx.AAAAAAAAAAAAAAAAAAAAAA".to_string(),
    ];
    let mut doc = vec![
        "# Documentation examples (none of these is a real credential)".to_string(),
        format!("aws_access_key_id = {}", decoys[0]),
        format!("aws_access_key_id = {}", decoys[1]),
        format!("aws_secret_access_key = {}", decoys[2]),
        format!("GITHUB_TOKEN={}", decoys[3]),
        format!("stripe key {}", decoys[4]),
        format!("NPM_TOKEN={}", decoys[5]),
        format!("card (Luhn fails): {}", decoys[6]),
        format!("test card: {}", decoys[7]),
        format!("test card: {}", decoys[8]),
        format!("test card: {}", decoys[9]),
        format!("IBAN example: {}", decoys[10]),
        format!("IBAN with a wrong check: {}", decoys[11]),
        format!("mail {} or {}", decoys[12], decoys[13]),
        format!("ssn {} {} {} {}", decoys[14], decoys[15], decoys[16], decoys[17]),
        format!("password = \"{}\"", decoys[18]),
        format!("password = \"{}\"", decoys[19]),
        format!("api_key: {}", decoys[20]),
        format!("token {}", decoys[21]),
        "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----".to_string(),
        "-----BEGIN OPENSSH PRIVATE KEY-----\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\n-----END OPENSSH PRIVATE KEY-----".to_string(),
        "order id 4539148803436468 shipped; phone 0049 30 1234567".to_string(),
    ];
    doc.extend(noise.iter().map(|s| s.to_string()));
    c.files
        .push(("docs/EXAMPLES.md".to_string(), doc.join("\n") + "\n"));
    c.decoys = decoys;
    c
}

impl Corpus {
    /// Write the files under `root`.
    pub fn write(&self, root: &Path) -> std::io::Result<()> {
        for (rel, content) in &self.files {
            let p = root.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(p, content)?;
        }
        Ok(())
    }
}
