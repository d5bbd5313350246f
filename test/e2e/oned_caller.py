#!/usr/bin/env python3
"""oned's side of the driver protocol, per release, for test_profiles.sh.

Calls a driver action the way the given release's oned does and parses its outputs the way
that release parses them; written from the release's sources (read, not copied):
  - one_datastore.rb: DS actions get "DUMP ID" on argv up to 6.6, "ID" with the base64 dump on
    stdin from 6.8 (tm/<tm>/monitor too: it runs through the DS driver); the monitor result
    is base64-encoded by the driver and decoded by oned.
  - one_tm.rb: TM actions on argv; "ACTION.SUFFIX" falls back to "ACTION"; a missing script
    fails with "Driver path ... does not exists".
  - DriverExecHelper.rb / CommandManager.rb: the failure reason is the text between the
    ERROR MESSAGE markers (5.12, 6.0), all of stderr joined by blanks (6.2 .. 6.10), or the
    stderr lines that are not ERROR:/INFO:/WARN:/DEBUG: log lines, concatenated (7.x).
  - ImageManager{Driver,Protocol}.cc: cp/clone success is "SOURCE" (5.12: the first word) or
    "SOURCE FORMAT" (6.0+: cp fails without FORMAT, clone's FORMAT is optional); the DS
    monitor is a template that must parse whole, of which USED_MB/TOTAL_MB/FREE_MB are read.
  - MonitorDriverProtocol.cc (5.12+): VM=[ID=n, MONITOR="<base64 template>"] lines.
  - node-probes.d/monitor_ds.rb + monitor_ds_vm.rb: the host probe ("probe").

Prints KEY=VALUE lines (RESULT, INFO, SOURCE, FORMAT, USED_MB, ..., VM_<id>_DISK_<d>,
VM_<id>_SNAP_<d>_<s>, LOG lines) and exits 0 on SUCCESS, 1 on FAILURE, 2 on a parse error of
what the driver printed (which oned would have rejected).
Standard library only.
"""
import base64
import os
import re
import subprocess
import sys

OPEN, CLOSE = "ERROR MESSAGE --8<------", "ERROR MESSAGE ------>8--"
LOG_RE = re.compile(r"^(ERROR|INFO|WARN|DEBUG):\s+(\d+)?\s*(.*)$")


def release(v):
    ma, mi = v.split(".")[:2]
    return (int(ma), int(mi))


def reason(rel, stderr):
    """The failure reason oned records, and the lines it would send to the log."""
    logs = []
    if rel < (6, 2):
        m = re.findall(re.escape(OPEN) + r"\n(.*?)" + re.escape(CLOSE) + r"$", stderr, re.S | re.M)
        return (" ".join(m[:1]).strip() or "-"), logs
    if rel < (7, 0):
        return (stderr.replace("\n", " ").strip() or "-"), logs
    info = ""
    for line in stderr.splitlines():
        line = line.strip()
        if LOG_RE.match(line):
            logs.append(line)
        else:
            info += line
    return (info.replace("\n", " ").strip() or "-"), logs


class TemplateError(Exception):
    pass


def parse_template(text):
    """OpenNebula's template syntax: NAME = value | "quoted" | [ NAME = value, ... ]."""
    tok = re.compile(r'\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)|(?P<q>"(?:[^"\\]|\\.)*")|(?P<p>[=\[\],])|(?P<w>[^\s=\[\],"]+))')
    toks, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = tok.match(text, pos)
        if not m or m.end() == pos:
            raise TemplateError("bad text at %r" % text[pos:pos + 20])
        pos = m.end()
        if m.group("name"):
            toks.append(("w", m.group("name")))
        elif m.group("q"):
            toks.append(("w", m.group("q")[1:-1].replace('\\"', '"')))
        elif m.group("p"):
            toks.append(("p", m.group("p")))
        else:
            toks.append(("w", m.group("w")))
    attrs, i = [], 0
    while i < len(toks):
        if toks[i][0] != "w":
            raise TemplateError("expected a name")
        name = toks[i][1]
        if i + 1 >= len(toks) or toks[i + 1] != ("p", "="):
            raise TemplateError("expected = after %s" % name)
        i += 2
        if i >= len(toks):
            raise TemplateError("no value for %s" % name)
        if toks[i] == ("p", "["):
            i += 1
            vec = {}
            while True:
                if i + 2 >= len(toks) or toks[i][0] != "w" or toks[i + 1] != ("p", "="):
                    raise TemplateError("bad vector %s" % name)
                key = toks[i][1]
                if toks[i + 2][0] != "w":
                    raise TemplateError("bad vector value in %s" % name)
                vec[key.upper()] = toks[i + 2][1]
                i += 3
                if i < len(toks) and toks[i] == ("p", ","):
                    i += 1
                    continue
                if i < len(toks) and toks[i] == ("p", "]"):
                    i += 1
                    break
                raise TemplateError("unclosed vector %s" % name)
            attrs.append((name.upper(), vec))
        elif toks[i][0] == "w":
            attrs.append((name.upper(), toks[i][1]))
            i += 1
        else:
            raise TemplateError("bad value for %s" % name)
    return attrs


def vm_disks(rel, attrs, out):
    """VM lines as 5.12+ monitord reads them (MONITOR: base64 template); POLL before."""
    for name, v in attrs:
        if name != "VM" or not isinstance(v, dict):
            continue
        vm = v.get("ID")
        if rel >= (5, 12):
            if "MONITOR" not in v:
                raise TemplateError("VM %s has no MONITOR" % vm)
            try:
                inner = base64.b64decode(v["MONITOR"], validate=True).decode()
            except Exception:
                raise TemplateError("VM %s: MONITOR is not base64" % vm)
        else:
            inner = v.get("POLL", "")
        for n, d in parse_template(inner):
            if n == "DISK_SIZE":
                out.append("VM_%s_DISK_%s=%s" % (vm, d["ID"], d["SIZE"]))
            elif n == "SNAPSHOT_SIZE":
                out.append("VM_%s_SNAP_%s_%s=%s" % (vm, d["DISK_ID"], d["ID"], d["SIZE"]))


def run(cmd, stdin):
    p = subprocess.run(cmd, input=stdin.encode() if stdin is not None else None,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=None if stdin is not None else subprocess.DEVNULL)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def finish(rel, rc, stdout, stderr, out, parse_ok=None):
    if rc == 0:
        out.insert(0, "RESULT=SUCCESS")
        info = stdout
    else:
        out.insert(0, "RESULT=FAILURE")
        info, logs = reason(rel, stderr)
        out.extend("LOG=" + l for l in logs)
    out.insert(1, "INFO=" + info.replace("\n", "\\n"))
    code = 0 if rc == 0 else 1
    if rc == 0 and parse_ok:
        try:
            parse_ok(stdout, out)
        except TemplateError as e:
            out.append("PARSE_ERROR=%s" % e)
            code = 2
    print("\n".join(out))
    return code


def ds(rel, remotes, action, driver, ident, dump_b64, sysdriver=None):
    base = os.path.join(remotes, "tm", sysdriver) if sysdriver else os.path.join(remotes, "datastore", driver)
    cmd = os.path.join(base, action)
    if not os.path.exists(cmd):
        print("RESULT=FAILURE\nINFO=Datastore driver '%s' not available" % driver)
        return 1
    if rel >= (6, 8):
        rc, o, e = run([cmd, ident], dump_b64)
    else:
        rc, o, e = run([cmd, dump_b64, ident], None)
    out = []

    def image(stdout, out):
        words = stdout.split()
        if not words:
            raise TemplateError("no SOURCE")
        out.append("SOURCE=" + words[0])
        if rel >= (6, 0) and action in ("cp", "clone"):
            fmt = words[1] if len(words) > 1 else ""
            if action == "cp" and not fmt:
                raise TemplateError("CP operation succeeded but image FORMAT was not returned.")
            out.append("FORMAT=" + fmt)

    def monitor(stdout, out):
        # (one_datastore.rb base64-encodes the info and oned decodes it: the text itself.)
        attrs = parse_template(stdout)
        for k in ("USED_MB", "TOTAL_MB", "FREE_MB"):
            vals = [v for n, v in attrs if n == k]
            if not vals:
                raise TemplateError("no " + k)
            out.append("%s=%s" % (k, vals[0]))
        vm_disks(rel, attrs, out)

    def export(stdout, out):
        # one_market.rb hands the <IMPORT_INFO> document to the marketplace's import.
        import xml.etree.ElementTree as ET
        try:
            root = ET.fromstring(stdout.strip())
        except ET.ParseError as e:
            raise TemplateError("IMPORT_INFO: %s" % e)
        if root.tag != "IMPORT_INFO":
            raise TemplateError("not IMPORT_INFO")
        for k in ("IMPORT_SOURCE", "MD5", "SIZE", "FORMAT", "DISPOSE"):
            el = root.find(k)
            if el is None:
                raise TemplateError("IMPORT_INFO without " + k)
            out.append("%s=%s" % (k, (el.text or "").strip()))

    parse = {"cp": image, "clone": image, "mkfs": image, "monitor": monitor, "export": export}.get(action)
    return finish(rel, rc, o, e, out, parse)


def tm(rel, remotes, action, driver, args, stdin=None):
    path = os.path.join(remotes, "tm", driver, action)
    if not os.path.exists(path):
        short = path.split(".")[0] if "." in action else None
        if not short or not os.path.exists(short):
            print("RESULT=FAILURE\nINFO=Driver path '%s' does not exists" % path)
            return 1
        path = short
    rc, o, e = run([path] + args, stdin)
    return finish(rel, rc, o, e, [])


def probe(rel, remotes, ds_location):
    """node-probes.d monitor_ds.rb + monitor_ds_vm.rb: DS dirs marked by .monitor."""
    out = []
    for d in sorted(os.listdir(ds_location)):
        p = os.path.join(ds_location, d)
        if not (d.isdigit() and os.path.isdir(p) and os.path.exists(os.path.join(p, ".monitor"))):
            continue
        driver = open(os.path.join(p, ".monitor")).read().strip() or "ssh"
        st = os.statvfs(p)
        out.append("DS_%s_MARK=%s" % (d, driver))
        out.append("DS_%s_TOTAL_MB=%d" % (d, st.f_blocks * st.f_frsize >> 20))
        script = os.path.join(remotes, "tm", driver, "monitor_ds")
        if not os.path.exists(script):
            continue
        rc, o, _ = run([script, p], None)
        if rc != 0:
            continue
        try:
            attrs = parse_template(o)
            used = [v for n, v in attrs if n == "USED_MB"]
            out.append("DS_%s_USED_MB=%s" % (d, used[0] if used else ""))
            vm_disks(rel, attrs, out)
        except TemplateError as e:
            out.append("PARSE_ERROR=%s" % e)
            print("\n".join(out))
            return 2
    print("\n".join(out))
    return 0


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__ + "\nusage: oned_caller.py RELEASE REMOTES ds ACTION DRIVER ID DUMP_B64 [SYS_TM]\n"
                         "       oned_caller.py RELEASE REMOTES tm ACTION DRIVER ARGS... [< STDIN with --stdin]\n"
                         "       oned_caller.py RELEASE REMOTES probe DS_LOCATION\n")
        return 64
    rel, remotes, what = release(argv[1]), argv[2], argv[3]
    if what == "ds":
        return ds(rel, remotes, argv[4], argv[5], argv[6], argv[7], argv[8] if len(argv) > 8 else None)
    if what == "tm":
        args = argv[6:]
        stdin = None
        if args and args[0] == "--stdin":
            args, stdin = args[1:], sys.stdin.read()
        return tm(rel, remotes, argv[4], argv[5], args, stdin)
    if what == "probe":
        return probe(rel, remotes, argv[4])
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
