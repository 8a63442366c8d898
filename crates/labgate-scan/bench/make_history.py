#!/usr/bin/env python3
"""Builds the benchmark repository deterministically.

One commit per vendored crate (sorted by name, fixed author and dates), plus planted secrets
in the places history scanners miss most often: deleted again in the next commit, only in a
merge resolution, only on a merge-request ref, in a commit message, in an annotated tag's
message, base64-encoded where the format says so (Kubernetes Secret data, Docker config.json
auth, .dockerconfigjson inside a Secret), and in UTF-16 files with and without a byte-order
mark. Decoys that must not be reported are planted the same way. Writes planted.json next to
the repository.

usage: make_history.py VENDOR_DIR REPO_DIR PLANTED_JSON
"""
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import zlib

RNG = random.Random(20261122)
# The plants added later draw from their own generator, so the earlier plants keep their values.
RNG2 = random.Random(20261202)
AN = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOK = AN + "_-"
HEX = "0123456789abcdef"
B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
BASE_TIME = 1_700_000_000


def rs(n, alpha=AN, rng=None):
    return "".join((rng or RNG).choice(alpha) for _ in range(n))


def pat2():
    return "glpat-" + rs(20, TOK, RNG2)


def docker_config(user, password):
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return '{\n  "auths": {\n    "registry.gitlab.internal": {\n      "auth": "' + auth + '"\n    }\n  }\n}\n'


def write(repo, rel, data):
    path = os.path.join(repo, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def b36(v, w):
    s = ""
    while True:
        s = B36[v % 36] + s
        v //= 36
        if v == 0:
            break
    return s.rjust(w, "0")


def routable(prefix, fields, broken=False):
    payload = "\n".join(f"{k}:{v}" for k, v in sorted(fields.items())).encode()
    raw = bytes(RNG.getrandbits(8) for _ in range(16)) + payload + bytes([len(payload)])
    body = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    head = f"{prefix}{body}.01.{b36(len(body), 2)}"
    crc = b36(zlib.crc32(head.encode()) & 0xFFFFFFFF, 7)
    if broken:
        crc = crc[:-1] + ("1" if crc[-1] == "0" else "0")
    return head + crc


def planted_secrets():
    """(kind, secret, file text) for every planted true positive."""
    p = []
    for i in range(4):
        t = routable("glpat-", {"c": "1", "o": b36(i + 1, 1), "u": b36(RNG.randrange(1, 10**7), 1)})
        p.append(("gitlab-pat-routable", t, f"GITLAB_TOKEN={t}\n"))
    for i in range(3):
        t = "glpat-" + rs(20, TOK)
        p.append(("gitlab-pat", t, f'private_token = "{t}"\n'))
    legacy = {
        "gloas-": 64, "gldt-": 20, "glrt-": 20, "glrtr-": 20, "GR1348941": 20, "glft-": 20, "glimt-": 25,
        "glagent-": 50, "glsoat-": 20, "glffct-": 20, "glwt-": 20,
    }
    for prefix, n in legacy.items():
        t = prefix + rs(n, TOK)
        p.append((prefix, t, f"TOKEN={t}\n"))
    t = "glcbt-" + rs(2, HEX) + "_" + rs(20, TOK)
    p.append(("glcbt-", t, f"CI_JOB_TOKEN={t}\n"))
    t = "glptt-" + rs(40, HEX)
    p.append(("glptt-", t, f"curl -F token={t} -F ref=main https://gitlab.internal/api/v4/projects/9/trigger/pipeline\n"))
    for prefix in ["gldt-", "glrt-", "glcbt-"]:
        t = routable(prefix, {"c": "1", "o": "2"})
        p.append((prefix + "routable", t, f"TOKEN={t}\n"))
    s = rs(32, "0123456789abcdef")
    p.append(("_gitlab_session", s, f"Cookie: _gitlab_session={s}\n"))
    t = "AKIA" + rs(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    p.append(("aws", t, f"aws_access_key_id = {t}\n"))
    t = "ghp_" + rs(36)
    p.append(("github", t, f"GITHUB_TOKEN={t}\n"))
    t = "xoxb-" + rs(12, "0123456789") + "-" + rs(13, "0123456789") + "-" + rs(24)
    p.append(("slack", t, f"SLACK_BOT_TOKEN={t}\n"))
    t = "sk_live_" + rs(48)
    p.append(("stripe", t, f"STRIPE_KEY={t}\n"))
    pw = rs(20)
    p.append(("database-url", pw, f"DATABASE_URL=postgres://app:{pw}@db.internal:5432/app\n"))
    return p


def decoys():
    """Values that must not be reported."""
    d = []
    for i in range(3):
        t = routable("glpat-", {"o": b36(i + 5, 1)}, broken=True)
        d.append(("routable-bad-crc", t, f"GITLAB_TOKEN={t}\n"))
    d.append(("placeholder", "glpat-xxxxxxxxxxxxxxxxxxxx", "GITLAB_TOKEN=glpat-xxxxxxxxxxxxxxxxxxxx\n"))
    d.append(("placeholder", "glpat-XXXXXXXXXXX-XXXXXXXX", "token: glpat-XXXXXXXXXXX-XXXXXXXX\n"))
    d.append(("placeholder", "GR1348941XXXXXXXXXXXXXXXXXXXX", "registration_token: GR1348941XXXXXXXXXXXXXXXXXXXX\n"))
    d.append(("doc-key", "AKIAIOSFODNN7EXAMPLE", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"))
    d.append(("interpolation", "${DB_PASSWORD}", "DATABASE_URL=postgres://app:${DB_PASSWORD}@db:5432/app\n"))
    return d


def git(repo, *args, env_extra=None, check=True):
    env = dict(os.environ)
    env.update({
        "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Vendor Bot", "GIT_AUTHOR_EMAIL": "vendor@bench.invalid",
        "GIT_COMMITTER_NAME": "Vendor Bot", "GIT_COMMITTER_EMAIL": "vendor@bench.invalid",
    })
    env.update(env_extra or {})
    return subprocess.run(["git", *args], cwd=repo, env=env, check=check, capture_output=True, text=True).stdout.strip()


class Clock:
    def __init__(self):
        self.t = BASE_TIME

    def env(self):
        self.t += 3600
        stamp = f"@{self.t} +0000"
        return {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}


def commit(repo, clock, msg, paths):
    git(repo, "add", "--", *paths)
    git(repo, "commit", "-q", "-m", msg, env_extra=clock.env())


def main():
    vendor, repo, planted_json = sys.argv[1:4]
    if os.path.exists(repo):
        shutil.rmtree(repo)
    os.makedirs(repo)
    git(repo, "init", "-q", "-b", "main")
    clock = Clock()
    crates = sorted(c for c in os.listdir(vendor) if os.path.isdir(os.path.join(vendor, c)))
    secrets = planted_secrets()
    fakes = decoys()
    # Spread plants evenly through history.
    slots = {}
    step = max(1, len(crates) // (len(secrets) + len(fakes) + 1))
    for n, item in enumerate(secrets + fakes):
        slots.setdefault((n + 1) * step, []).append(item)
    special = {}
    for i, crate in enumerate(crates):
        shutil.copytree(os.path.join(vendor, crate), os.path.join(repo, "vendor", crate), symlinks=True)
        commit(repo, clock, f"vendor: add {crate}", [os.path.join("vendor", crate)])
        for j, (kind, value, text) in enumerate(slots.get(i, [])):
            rel = f"deploy/{kind.strip('-_')}-{i}-{j}.env"
            os.makedirs(os.path.join(repo, "deploy"), exist_ok=True)
            with open(os.path.join(repo, rel), "w") as f:
                f.write(f"# settings for {crate}\n{text}")
            commit(repo, clock, f"deploy: settings for {crate}", [rel])
            # Every other plant is deleted again, so only history holds it.
            if (i + j) % 2 == 0:
                git(repo, "rm", "-q", rel)
                git(repo, "commit", "-q", "-m", f"deploy: drop {rel}", env_extra=clock.env())
    # A token introduced only in a merge resolution.
    merge_tok = routable("glpat-", {"c": "2", "o": "9", "u": "3z"})
    git(repo, "checkout", "-q", "-b", "side")
    with open(os.path.join(repo, "merge.cfg"), "w") as f:
        f.write("mode = side\n")
    commit(repo, clock, "side change", ["merge.cfg"])
    git(repo, "checkout", "-q", "main")
    with open(os.path.join(repo, "merge.cfg"), "w") as f:
        f.write("mode = main\n")
    commit(repo, clock, "main change", ["merge.cfg"])
    git(repo, "merge", "-q", "side", check=False, env_extra=clock.env())
    with open(os.path.join(repo, "merge.cfg"), "w") as f:
        f.write(f"mode = merged\ntoken = {merge_tok}\n")
    git(repo, "add", "merge.cfg")
    git(repo, "commit", "-q", "--no-edit", "-m", "merge side", env_extra=clock.env())
    special["merge-only"] = merge_tok
    # A token only reachable from a merge-request ref, as GitLab stores them.
    mr_tok = "glpat-" + rs(20, TOK)
    git(repo, "checkout", "-q", "-b", "mr")
    with open(os.path.join(repo, "mr.env"), "w") as f:
        f.write(f"GITLAB_TOKEN={mr_tok}\n")
    commit(repo, clock, "mr: wip", ["mr.env"])
    mr_head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "mr")
    git(repo, "update-ref", "refs/merge-requests/1/head", mr_head)
    special["merge-request-ref"] = mr_tok
    # A token pasted into a commit message: no blob holds it.
    msg_tok = pat2()
    write(repo, "ci/notes.txt", "pipeline notes\n")
    git(repo, "add", "ci/notes.txt")
    git(repo, "commit", "-q", "-m", f"ci: fix trigger\n\nTested with {msg_tok} before rotating it.",
        env_extra=clock.env())
    special["commit-message"] = msg_tok
    # A token in an annotated tag's message.
    tag_tok = pat2()
    git(repo, "tag", "-a", "v0.1.0", "-m", f"Release 0.1.0\n\nDeploy token: {tag_tok}\n", env_extra=clock.env())
    special["tag-message"] = tag_tok
    # Base64 where the format declares it: Kubernetes Secret data, Docker auth, and a
    # .dockerconfigjson (base64 of a Docker config) inside a Secret.
    k8s_tok, docker_tok, nested_tok = pat2(), pat2(), pat2()
    b64 = lambda v: base64.b64encode(v.encode()).decode()
    write(repo, "k8s/gitlab-secret.yaml",
          "apiVersion: v1\nkind: Secret\nmetadata:\n  name: gitlab\ntype: Opaque\ndata:\n"
          f"  username: {b64('deploy-bot')}\n  token: {b64(k8s_tok)}\n")
    write(repo, "docker/config.json", docker_config("gitlab-ci-token", docker_tok))
    write(repo, "k8s/registry-secret.yaml",
          "apiVersion: v1\nkind: Secret\nmetadata:\n  name: registry\ntype: kubernetes.io/dockerconfigjson\n"
          f"data:\n  .dockerconfigjson: {b64(docker_config('deployer', nested_tok))}\n")
    commit(repo, clock, "deploy: cluster secrets", ["k8s", "docker"])
    special["k8s-secret-base64"] = k8s_tok
    special["docker-config-auth-base64"] = docker_tok
    special["dockerconfigjson-in-k8s-secret"] = nested_tok
    # UTF-16 files, as Windows tools write them: little-endian with a byte-order mark, and
    # big-endian without one.
    le_tok, be_tok = pat2(), pat2()
    write(repo, "scripts/setup.ps1", b"\xff\xfe" + f'$env:GITLAB_TOKEN = "{le_tok}"\r\n'.encode("utf-16-le"))
    write(repo, "scripts/legacy.reg", f"[HKEY_CURRENT_USER\\Software\\CI]\r\n\"Token\"=\"{be_tok}\"\r\n".encode("utf-16-be"))
    commit(repo, clock, "scripts: windows setup", ["scripts"])
    special["utf-16le-bom"] = le_tok
    special["utf-16be-no-bom"] = be_tok
    # Decoys in the same new places: a placeholder in Secret data, and a .netrc template in code.
    write(repo, "k8s/example-secret.yaml",
          f"apiVersion: v1\nkind: Secret\ndata:\n  token: {b64('glpat-xxxxxxxxxxxxxxxxxxxx')}\n")
    write(repo, "tools/netrc.py",
          "def netrc_line(hostname, auth_token):\n"
          "    return f'machine {hostname} login token password {auth_token}'\n")
    commit(repo, clock, "examples", ["k8s/example-secret.yaml", "tools/netrc.py"])
    fakes.append(("k8s-secret-placeholder", "glpat-xxxxxxxxxxxxxxxxxxxx", ""))
    fakes.append(("netrc-template", "{auth_token}", ""))
    git(repo, "branch", "-q", "-D", "side")
    git(repo, "repack", "-adq")
    git(repo, "prune")
    planted = [{"kind": k, "secret": v} for k, v, _ in secrets]
    planted += [{"kind": k, "secret": v} for k, v in special.items()]
    with open(planted_json, "w") as f:
        json.dump({"planted": planted, "decoys": [{"kind": k, "secret": v} for k, v, _ in fakes]}, f, indent=1)
    print(f"{len(crates)} crates, {len(planted)} planted secrets, {len(fakes)} decoys")


if __name__ == "__main__":
    main()
