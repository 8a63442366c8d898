//! Each false-positive class the scanner must not report.

use crate::common::{rule_ids, scanner_all};
use crate::routable::{break_checksum, generate};

#[test]
fn placeholders_and_low_entropy_fillers() {
    let scanner = scanner_all();
    for text in [
        "GITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx",
        "GITLAB_TOKEN=glpat-XXXXXXXXXXXXXXXXXXXX",
        "token: glpat-XXXXXXXXXXX-XXXXXXXX",
        "registration_token: GR1348941XXXXXXXXXXXXXXXXXXXX",
        "token = '<token>'",
        "password = \"changeme\"",
        "DB_PASSWORD = \"changeme-changeme\"",
        "GITHUB_TOKEN=ghp_000000000000000000000000000000000000",
        "api_key: 'your_api_key_goes_here_123'",
        "glpat-aaaaaaaaaaaaaaaaaaaa",
    ] {
        assert_eq!(rule_ids(&scanner, text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn well_known_documentation_keys() {
    let scanner = scanner_all();
    for text in [
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AKIAI44QH8DHBEXAMPLE",
    ] {
        assert_eq!(rule_ids(&scanner, text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn template_and_variable_interpolation() {
    let scanner = scanner_all();
    for text in [
        "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app",
        "password = \"${DB_PASSWORD}\"",
        "api_key: '{{ secret }}'",
        "secret_key = '{{ vault_secret_key }}'",
        "password = '%(password)s'",
        "token = \"$(cat /run/secrets/gitlab_token)\"",
        "client_secret = \"$CLIENT_SECRET_FROM_ENV\"",
        "password: \"#{ENV['DB_PASSWORD']}\"",
        "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}",
    ] {
        assert_eq!(rule_ids(&scanner, text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn routable_tokens_whose_checksum_fails() {
    let scanner = scanner_all();
    let good = generate("glpat-", &[('o', "1"), ('u', "7")]);
    assert_eq!(rule_ids(&scanner, &format!("t={good}")), ["gitlab-pat-routable"]);
    assert!(rule_ids(&scanner, &format!("t={}", break_checksum(&good))).is_empty());
    assert!(
        rule_ids(
            &scanner,
            "glpat-3fZ1p5y4XWcCvMGVlfakeW86MQp1Oml3Ymg0Cw.01.1203afake"
        )
        .is_empty()
    );
}

#[test]
fn real_looking_values_next_to_the_filters_are_still_found() {
    // Guards against filters so broad they hide real secrets.
    let scanner = scanner_all();
    assert_eq!(
        rule_ids(&scanner, "GITLAB_TOKEN=glpat-Qm3k9ZxT2bLw8RfN5yHc"),
        ["gitlab-pat"]
    );
    assert_eq!(
        rule_ids(
            &scanner,
            "DATABASE_URL=postgres://app:Vt9q2LmX8kR4pZs7@db:5432/app"
        ),
        ["database-url-password"]
    );
    assert_eq!(
        rule_ids(&scanner, "password = \"h7Gq!2mZ@x9LrT4#vB8k\""),
        ["generic-secret-assignment"]
    );
}

#[test]
fn netrc_templates_in_code_are_not_passwords_but_real_netrc_entries_are() {
    // Shapes found in Python's standard library and site-packages: code that writes a .netrc.
    let scanner = crate::common::scanner_default();
    for text in [
        "    netrc_content = f'machine {hostname} login token password {auth_token}'\n",
        "        f.write(f'machine {hostname}{path} login {self.username} password {self.token}')\n",
        "line = 'machine gitlab.internal login ci password {0}'.format(token)\n",
        "line = \"machine %s login %s password %s\" % (host, user, token)\n",
        "line = \"machine gitlab.internal login ci password %s\" % token\n",
        "echo \"machine gitlab.internal login ci password ${CI_JOB_TOKEN}\" > ~/.netrc\n",
        "machine <host> login <user> password <token>\n",
        // CPython's netrc parser tests: an unterminated quote, escaped bytes, a comment sign.
        "        machine host.domain.com login log password \"pas\n",
        "        machine host.domain.com login log password \\xa1\\xa2\n",
        "        machine host.domain.com login log password pa#ss\n",
    ] {
        assert_eq!(rule_ids(&scanner, text), Vec::<String>::new(), "{text}");
    }
    let real = "machine gitlab.corp.test\n  login deploy\n  password q7{Lm2%Vz9!Tk\n";
    assert_eq!(
        crate::common::secrets(&scanner, real),
        [("netrc-password".to_owned(), "q7{Lm2%Vz9!Tk".to_owned())]
    );
    assert_eq!(
        rule_ids(
            &scanner,
            "machine git.corp.test login ci password zvzxfgU0Gsn1duyPRUPO"
        ),
        ["netrc-password"]
    );
    // Quoted, as .netrc allows; the finding is the value with its quotes.
    assert_eq!(
        crate::common::secrets(
            &scanner,
            "machine git.corp.test login ci password \"h7#Gq2mZx9Lr\""
        ),
        [("netrc-password".to_owned(), "\"h7#Gq2mZx9Lr\"".to_owned())]
    );
}
