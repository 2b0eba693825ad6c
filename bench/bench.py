#!/usr/bin/env python3
"""trailql vs DuckDB, chdb (ClickHouse) and jq on the same raw CloudTrail files.

Generates the trail with `trailql generate` (1.2 M events, 7 days, 3 accounts x 4 regions),
runs each query with each tool (median of --runs, the tools taking turns), checks that they
return the same answer, and prints wall time, CPU time and peak RSS, plus trailql's ratio to
each peer measured in this same run. Writes the figures to BENCHMARKS.md (--write).

    python3 bench/bench.py            # everything, about 10 minutes on 2 cores
    python3 bench/bench.py --quick    # 200 k events, 1 run: a smoke test
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
TRAILQL = TARGET / "release" / "trailql"

NEEDLE_WHERE_SQL = (
    "eventname = 'AuthorizeSecurityGroupIngress' AND requestparameters LIKE '%0.0.0.0/0%'"
)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def ensure_tools(build=True):
    if build or not TRAILQL.exists():
        sh(f"cd {ROOT} && cargo build --release -p trailql-cli")
    if shutil.which("jq") is None or not Path("/usr/bin/time").exists():
        sh("apt-get update -qq && apt-get install -y -qq jq time >/dev/null")
    try:
        import duckdb  # noqa: F401
        import chdb  # noqa: F401
    except ImportError:
        sh(f"{sys.executable} -m pip install -q duckdb chdb")


def generate(data, events):
    truth = data / "ground-truth.json"
    if truth.exists() and json.loads(truth.read_text())["events"] >= events * 0.9:
        return json.loads(truth.read_text())
    if data.exists():
        shutil.rmtree(data)
    sh(f"{TRAILQL} generate {data} --events {events} --days 7 --accounts 3 "
       f"--regions us-east-1,us-west-2,eu-west-1,ap-southeast-2 --seed 42 --openings 24")
    return json.loads(truth.read_text())


def timed(cmd, env=None):
    """Run under GNU time; return (stdout, wall s, cpu s, peak RSS MB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", tf.name] + cmd,
                           capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if p.returncode != 0:
            raise RuntimeError(f"{cmd[:3]} failed: {p.stderr[-2000:]}")
        user, system, rss_kb = tf.read().split()[-3:]
    return p.stdout, wall, float(user) + float(system), int(rss_kb) / 1024


def peer_script(tool, query, files_glob):
    if tool == "duckdb":
        # DuckDB's fastest form we found: raw objects, then the Records array as JSON values
        # (read_json with a Records column or auto-detected structs is 3-10x slower here).
        src = (f"(SELECT unnest(json_extract(json, '$.Records[*]')) AS r "
               f"FROM read_json_objects('{files_glob}', maximum_object_size=268435456))")
        if query == "needle":
            sql = (f"SELECT r->>'eventID' FROM {src} WHERE r->>'eventName' = 'AuthorizeSecurityGroupIngress' "
                   f"AND CAST(r->'requestParameters' AS VARCHAR) LIKE '%0.0.0.0/0%' ORDER BY 1")
        else:
            sql = (f"SELECT r->>'eventSource', r->>'eventName', count(*) AS n FROM {src} "
                   f"GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 10")
        return ("import duckdb\ncon = duckdb.connect()\ncon.execute(\"SET threads TO 2\")\n"
                f"for row in con.execute({sql!r}).fetchall(): print('\\t'.join(map(str, row)))\n")
    if tool == "chdb":
        src = (f"file('{files_glob}', 'JSONAsString') ARRAY JOIN JSONExtractArrayRaw(json, 'Records') AS rec")
        if query == "needle":
            sql = (f"SELECT JSONExtractString(rec, 'eventID') AS id FROM {src} "
                   f"WHERE JSONExtractString(rec, 'eventName') = 'AuthorizeSecurityGroupIngress' "
                   f"AND JSONExtractRaw(rec, 'requestParameters') LIKE '%0.0.0.0/0%' ORDER BY id")
        else:
            sql = (f"SELECT JSONExtractString(rec, 'eventSource') AS s, JSONExtractString(rec, 'eventName') AS e, "
                   f"count() AS n FROM {src} GROUP BY s, e ORDER BY n DESC, s, e LIMIT 10")
        return ("import chdb\n"
                f"print(chdb.query({sql!r} + ' SETTINGS max_threads=2', 'TSV').data(), end='')\n")
    raise ValueError(tool)


def normalise(text):
    return sorted(line.strip() for line in text.strip().splitlines() if line.strip())


def trailql_cmd(query, sources, extra_where=None):
    if query == "needle":
        sql = f"SELECT eventid FROM cloudtrail_logs WHERE {NEEDLE_WHERE_SQL} ORDER BY 1"
    elif query == "aggregate":
        sql = ("SELECT eventsource, eventname, count(*) AS n FROM cloudtrail_logs "
               "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 10")
    else:
        sql = f"SELECT count(*) FROM cloudtrail_logs WHERE {extra_where}"
    cmd = [str(TRAILQL), "query", "--format", "csv", "-q"]
    for s in sources:
        cmd += ["-s", str(s)]
    return cmd + [sql]


def median_run(cmd, runs, env=None):
    return median_of([timed(cmd, env) for _ in range(runs)])


def median_of(results):
    """The run with the median wall time (its CPU time with it); the largest peak RSS."""
    out = results[0][0]
    walls = [r[1] for r in results]
    i = walls.index(statistics.median_low(walls))
    return out, results[i][1], results[i][2], max(r[3] for r in results)


def csv_rows(out, header=True):
    lines = out.strip().splitlines()
    return lines[1:] if header else lines


def hostile_corpus(root):
    """The corpus of tests/memory.rs: four gzip bombs of 3 GiB of white space inside the Records
    array, a string that never ends, 3 GiB of zeros, and an honest file inflating past 100 MB.
    Returns the honest file's event count."""
    import gzip
    day = root / "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01"
    day.mkdir(parents=True, exist_ok=True)
    name = lambda k: day / f"111122223333_CloudTrail_us-east-1_20240801T1000Z_{k}.json.gz"
    event = lambda i: ('{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u%d"},'
                       '"eventTime":"2024-08-01T10:%02d:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances",'
                       '"awsRegion":"us-east-1","requestParameters":{"instancesSet":{"items":[{"instanceId":"i-%016x"}]}},'
                       '"eventID":"%08x-0000-4000-8000-000000000000","recipientAccountId":"111122223333"}' % (i % 50, i % 60, i, i))
    def bomb(head, filler):
        member = gzip.compress(filler, 6)
        return gzip.compress(head.encode(), 6) + member * 48
    for k in range(4):
        name(f"bomb{k}").write_bytes(bomb('{"Records":[%s,' % event(0), b" " * (64 << 20)))
    name("string").write_bytes(bomb('{"Records":[%s,{"eventName":"' % event(1), b"a" * (64 << 20)))
    name("zeros").write_bytes(bomb("", b"\0" * (64 << 20)))
    recs, size = [], 0
    while size < 100 << 20:
        recs.append(event(len(recs) + 10))
        size += len(recs[-1]) + 1
    name("large").write_bytes(gzip.compress(('{"Records":[%s]}' % ",".join(recs)).encode(), 1))
    return len(recs)


def trail_facts(a):
    """The bench trail (generated if missing): its ground truth, files, gzip bytes and glob."""
    truth = generate(a.data, a.events)
    files = list(a.data.glob("AWSLogs/**/*.json.gz"))
    gz_bytes = sum(f.stat().st_size for f in files)
    glob = f"{a.data}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"
    print(f"trail: {truth['events']:,} events, {len(files):,} files, {gz_bytes/1e6:.0f} MB gzip", flush=True)
    return truth, files, gz_bytes, glob


def table_rows(rows):
    """BENCHMARKS.md table rows of (query, tool, wall, cpu, rss), each peer with trailql's ratio."""
    trailql = {q: w for q, tool, w, _, _ in rows if tool == "trailql"}
    out = []
    for q, tool, w, c, r in rows:
        ratio = "" if tool == "trailql" else f"{trailql.get(q, w) / w:.2f}x"
        out.append(f"| {q} | {tool} | {w:.2f} | {c:.2f} | {r:.0f} | {ratio} |")
    return out


def replace_in_benchmarks(table, row_starts, lines, line_starts):
    """Put `table` where BENCHMARKS.md's rows starting with `row_starts` were, and `lines` where
    its lines starting with `line_starts` were; the rest stays as it is."""
    path = ROOT / "BENCHMARKS.md"
    out, placed_rows, placed_lines = [], False, False
    for l in path.read_text().splitlines():
        if l.startswith(row_starts):
            if not placed_rows:
                out += table
                placed_rows = True
        elif l.startswith(line_starts):
            if not placed_lines:
                out += lines
                placed_lines = True
        else:
            out.append(l)
    path.write_text("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", type=Path, default=ROOT / "bench" / "data")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--write", action="store_true", help="write BENCHMARKS.md")
    ap.add_argument("--no-build", action="store_true",
                    help="use the trailql binary already in the target directory")
    ap.add_argument("--lake-sql-only", action="store_true",
                    help="measure only CloudTrail Lake statements against their Athena form "
                         "(and, with --write, replace their lines in BENCHMARKS.md)")
    ap.add_argument("--lake-only", action="store_true",
                    help="measure only the lake (sync, compact, queries against DuckDB; with --write, "
                         "replace its rows and lines in BENCHMARKS.md)")
    ap.add_argument("--detect-only", action="store_true",
                    help="measure only `trailql detect` against count(*) and rsigma (and, with --write, "
                         "replace its rows and lines in BENCHMARKS.md)")
    ap.add_argument("--watch-only", action="store_true",
                    help="measure only `trailql watch` (and, with --write, replace its lines in BENCHMARKS.md)")
    a = ap.parse_args()
    if a.quick:
        a.events, a.runs = 200_000, 1
    ensure_tools(build=not a.no_build)
    if a.lake_sql_only:
        generate(a.data, a.events)
        lines = lake_sql_bench(a)
        print("\n".join(lines))
        if a.write:
            path = ROOT / "BENCHMARKS.md"
            kept = [l for l in path.read_text().splitlines() if not l.startswith(LAKE_SQL_MARK)
                    and not l.startswith("  - Lake SQL:")]
            path.write_text("\n".join(kept + lines) + "\n")
        return 0
    if a.lake_only:
        truth, files, gz_bytes, glob = trail_facts(a)
        raw = {q: median_run(trailql_cmd(q, [a.data / "AWSLogs"]), a.runs)[1] for q in ["needle", "aggregate"]}
        lake = lake_bench(a, glob, gz_bytes)
        raw["id"] = lake["raw_id"][0]
        lines = lake_report(lake, raw, gz_bytes)
        table = table_rows(lake["rows"])
        print("\n".join(table + lines))
        if a.write:
            replace_in_benchmarks(table, ("| lake ",), lines, (
                LAKE_MARK, "  - needle on", "  - aggregate on", "  - lookup by eventid on",
                "  - on the lake as sync", "  - `lake compact`", "  - `detect` (the bundled pack"))
        return 0 if lake["agree"] else 1
    if a.detect_only:
        trail_facts(a)
        d = detect_bench(a)
        table = table_rows(d["rows"])
        lines = detect_report(d)
        print("\n".join(table + lines))
        if a.write:
            replace_in_benchmarks(table, ("| count(*) ", "| detect ", "| pack "), lines,
                                  (DETECT_MARK, "  - the bundled pack alone", "  - rsigma "))
        return 0
    if a.watch_only:
        lines = watch_report(watch_bench())
        print("\n".join(lines))
        if a.write:
            path = ROOT / "BENCHMARKS.md"
            kept = [l for l in path.read_text().splitlines() if not l.startswith(WATCH_MARK)
                    and not l.startswith("  - watch:")]
            path.write_text("\n".join(kept + lines) + "\n")
        return 0
    truth, files, gz_bytes, glob = trail_facts(a)

    rows = []  # (query, tool, wall, cpu, rss)
    answers = {}

    def record(query, tool, out, wall, cpu, rss):
        rows.append((query, tool, wall, cpu, rss))
        print(f"  {query:<10} {tool:<8} {wall:7.2f}s wall {cpu:7.2f}s cpu {rss:7.0f} MB", flush=True)

    # The tools take turns, round by round, so a slow spell of the machine falls on all of them
    # rather than on whichever ran during it: the ratios are measured under the same conditions.
    scripts = []
    for query in ["needle", "aggregate"]:
        cmds = {"trailql": trailql_cmd(query, [a.data / "AWSLogs"])}
        if not a.no_peers:
            for tool in ["duckdb", "chdb"]:
                with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
                    f.write(peer_script(tool, query, glob))
                scripts.append(f.name)
                cmds[tool] = [sys.executable, f.name]
            if query == "needle":
                cmds["jq"] = ["sh", "-c", (
                    "find {d} -name '*.json.gz' -print0 | xargs -0 -P2 -n 2000 sh -c "
                    "'zcat \"$@\" | jq -r \".Records[] | select(.eventName == \\\"AuthorizeSecurityGroupIngress\\\" "
                    "and (.requestParameters | tostring | contains(\\\"0.0.0.0/0\\\"))) | .eventID\"' _").format(d=a.data)]
        results = {tool: [] for tool in cmds}
        for _ in range(a.runs):
            for tool, cmd in cmds.items():
                results[tool].append(timed(cmd))
        for tool, res in results.items():
            out, wall, cpu, rss = median_of(res)
            if tool == "trailql":
                answers[(query, tool)] = normalise("\n".join(csv_rows(out)).replace(",", "\t"))
            else:
                answers[(query, tool)] = normalise(out)
            record(query, tool, out, wall, cpu, rss)
    for name in scripts:
        os.unlink(name)

    # Same answers?
    agree = True
    for query in ["needle", "aggregate"]:
        ref = answers[(query, "trailql")]
        for (q, tool), ans in answers.items():
            if q == query and ans != ref:
                agree = False
                print(f"MISMATCH {query}: trailql {len(ref)} rows, {tool} {len(ans)} rows", flush=True)
    planted = {p["event_id"] for p in truth["openings"] + truth["failed_attempts"] if p["cidr"] == "0.0.0.0/0"}
    if set(answers[("needle", "trailql")]) != planted:
        agree = False
        print("MISMATCH needle: trailql vs ground truth", flush=True)

    # Pruning: one day out of seven, read bytes and time against the full scan.
    day = "eventtime >= '2024-08-04T00:00:00Z' AND eventtime < '2024-08-05T00:00:00Z'"
    full = "concat(eventtime, '') >= '2024-08-04T00:00:00Z' AND concat(eventtime, '') < '2024-08-05T00:00:00Z'"
    day_cmd = trailql_cmd("count", [a.data / "AWSLogs"], day)
    full_cmd = trailql_cmd("count", [a.data / "AWSLogs"], full)
    out_day, wall_day, cpu_day, rss_day = median_run(day_cmd, a.runs)
    out_full, wall_full, cpu_full, rss_full = median_run(full_cmd, a.runs)
    def scan_stats(cmd):
        cmd = [c for c in cmd if c != "-q"]
        st = subprocess.run(cmd[:2] + ["--stats"] + cmd[2:], capture_output=True, text=True).stderr
        return next((l for l in st.splitlines() if l.startswith("stats:")), "").replace("stats: ", "")
    day_stats = scan_stats(day_cmd)
    full_stats = scan_stats(full_cmd)
    same_count = csv_rows(out_day) == csv_rows(out_full)
    agree &= same_count
    record("day", "trailql", out_day, wall_day, cpu_day, rss_day)
    record("day-full", "trailql", out_full, wall_full, cpu_full, rss_full)

    detection = detect_bench(a)
    for row in detection["rows"]:
        record(row[0], row[1], "", *row[2:])

    # The lake: sync against DuckDB's own JSON -> Parquet conversion of the same files, a second
    # sync with nothing new, its size against the raw gzip bytes, and the needle and aggregate
    # queries on it (trailql on the lake, DuckDB on the same Parquet files, trailql on the trail).
    lake = lake_bench(a, glob, gz_bytes) if not a.no_peers else None
    if lake:
        for q, tool, w, c, r in lake["rows"]:
            record(q, tool, "", w, c, r)

    # Memory: streaming aggregate over the data, then over the data twice.
    _, _, _, rss1 = median_run(trailql_cmd("aggregate", [a.data / "AWSLogs"]), 1)
    _, _, _, rss2 = median_run(trailql_cmd("aggregate", [a.data / "AWSLogs", a.data / "AWSLogs"]), 1)

    # Memory over hostile input: bombs and a large file, read at once.
    with tempfile.TemporaryDirectory() as hostile:
        honest = hostile_corpus(Path(hostile))
        sql = "SELECT count(*) FROM cloudtrail_logs"
        out, h_wall, _, h_rss = timed([str(TRAILQL), "query", "--format", "csv", "-q", "-s", hostile, sql])
        h_rows = int(csv_rows(out)[0])
        _, _, _, h_rss_all = timed([str(TRAILQL), "query", "--format", "csv", "-q", "-s", hostile,
                                    "SELECT * FROM cloudtrail_logs"])
        print(f"  hostile    trailql  {h_wall:7.2f}s wall, peak {h_rss:.0f} MB (count), {h_rss_all:.0f} MB (SELECT *)")

    t = {(q, tool): (w, c, r) for q, tool, w, c, r in rows}
    needle_eps = truth["events"] / t[("needle", "trailql")][1]  # per CPU-second
    report = []
    report.append(f"Machine: {machine()}")
    report.append(f"Trail: {truth['events']:,} events, {len(files):,} files, {gz_bytes/1e6:.0f} MB gzip "
                  f"(`trailql generate --events {a.events} --days 7 --accounts 3`, 4 regions, seed 42); "
                  f"median of {a.runs} run(s), the tools taking turns round by round, whole process.")
    report.append("")
    report.append("| query | tool | wall s | CPU s | peak RSS MB | trailql / tool (wall) |")
    report.append("|---|---|---:|---:|---:|---:|")
    report += table_rows(rows)
    report.append("")
    report.append(f"- Answers agree across tools and with the ground truth: **{'yes' if agree else 'NO'}**")
    report.append(f"- Needle throughput: {needle_eps/1e3:,.0f} k events per CPU-second "
                  f"({truth['events']:,} events, {t[('needle', 'trailql')][1]:.2f} CPU s); aggregate: "
                  f"{truth['events'] / t[('aggregate', 'trailql')][1] / 1e3:,.0f} k events per CPU-second")
    report.append(f"- One day of seven: {wall_full / wall_day:.1f}x faster than the unpruned scan of the same "
                  f"question (same count: {'yes' if same_count else 'NO'}).")
    report.append(f"  - one day: {day_stats}")
    report.append(f"  - unpruned: {full_stats}")
    report.append(f"- Peak RSS of the streaming aggregate: {rss1:.0f} MB over the trail, {rss2:.0f} MB over it twice")
    report.append(f"- Peak RSS over hostile input (four gzip bombs of 3 GiB, a string that never ends, 3 GiB of "
                  f"zeros and a 100 MB file, read at once): {h_rss:.0f} MB for count(*), {h_rss_all:.0f} MB for "
                  f"SELECT *; {h_wall:.1f} s wall (2 GiB inflated per bomb, the --max-inflated-bytes default); "
                  f"{h_rows:,} rows = the large file's {honest:,} events plus the 5 records before the bombs' "
                  f"damage: {'yes' if h_rows == honest + 5 else 'NO'}")
    report += detect_report(detection)
    if lake:
        raw = {"needle": t[("needle", "trailql")][0], "aggregate": t[("aggregate", "trailql")][0],
               "id": lake["raw_id"][0]}
        report += lake_report(lake, raw, gz_bytes)
    report += lake_sql_bench(a)
    report += watch_report(watch_bench())
    text = "\n".join(report)
    print("\n" + text)
    if a.write:
        (ROOT / "BENCHMARKS.md").write_text(
            "# Benchmarks\n\nProduced by `python3 bench/bench.py --write` (see the script for the exact "
            "queries each tool runs).\n\n" + text + "\n")
    return 0 if agree else 1


DETECT_MARK = "- Detection ("


def detect_bench(a):
    """Detection: the bundled pack plus SigmaHQ's 57 CloudTrail rules, against a bare count(*)
    over the same files, the two taking turns; then the rsigma CLI with the same 57 rules over
    the same events as JSON lines (the time to write them is not counted)."""
    sigmahq = ROOT / "crates" / "trailql-rules" / "tests" / "sigmahq" / "rules"
    # The alerts go to a file, as a user would write them: the harness reading 690 k lines from
    # a pipe would compete with the tool for the two cores.
    out = Path(tempfile.mkdtemp(prefix="trailql-detect-"))
    count_cmd = [str(TRAILQL), "query", "--format", "csv", "-q", "-s", str(a.data / "AWSLogs"),
                 "SELECT count(*) FROM cloudtrail_logs"]
    detect_cmd = [str(TRAILQL), "detect", "--format", "csv", "-q", "-s", str(a.data / "AWSLogs"),
                  "--output", str(out / "detect.csv"), "--rules", str(sigmahq)]
    pack_cmd = detect_cmd[:-4] + ["--output", str(out / "pack.csv")]  # the bundled pack alone
    det = {"count": [], "detect": [], "pack": []}
    for _ in range(a.runs):
        det["count"].append(timed(count_cmd))
        det["detect"].append(timed(detect_cmd))
        det["pack"].append(timed(pack_cmd))
    alerts = {k: sum(1 for _ in open(out / f"{k}.csv")) - 1 for k in ["detect", "pack"]}
    shutil.rmtree(out)
    _, p_wall, p_cpu, p_rss = median_of(det["pack"])
    _, c_wall, c_cpu, c_rss = median_of(det["count"])
    _, d_wall, d_cpu, d_rss = median_of(det["detect"])
    rows = [("count(*)", "trailql", c_wall, c_cpu, c_rss),
            ("detect", "trailql", d_wall, d_cpu, d_rss),
            ("pack", "trailql", p_wall, p_cpu, p_rss)]
    rsigma = rsigma_run(a, sigmahq) if not a.no_peers else None
    if rsigma:
        rows.append(("detect", "rsigma", *rsigma[1:4]))
    return {"rows": rows, "count": c_wall, "detect": (d_wall, alerts["detect"], d_rss),
            "pack": (p_wall, alerts["pack"], p_rss), "rsigma": rsigma}


def detect_report(d):
    c_wall = d["count"]
    d_wall, d_alerts, d_rss = d["detect"]
    p_wall, p_alerts, p_rss = d["pack"]
    lines = [f"{DETECT_MARK}bundled pack + SigmaHQ's 57 CloudTrail rules, {d_alerts:,} alerts): "
             f"{d_wall:.2f} s against {c_wall:.2f} s for a bare count(*) over the same files: "
             f"**{d_wall / c_wall:.2f}x** count(*); peak RSS {d_rss:.0f} MB (measured "
             f"{time.strftime('%Y-%m-%d', time.gmtime())}: rows of one run compare, a partial run's "
             f"rows may come from a busier or quieter day than the table's others)",
             f"  - the bundled pack alone ({p_alerts:,} alerts): {p_wall:.2f} s, **{p_wall / c_wall:.2f}x** "
             f"count(*); peak RSS {p_rss:.0f} MB"]
    rsigma = d["rsigma"]
    if rsigma:
        lines.append(f"  - rsigma {RSIGMA_VERSION} (`rsigma engine eval`, the 57 rules) over the same events as "
                     f"JSON lines ({rsigma[4]:,} matches): {rsigma[1]:.2f} s wall, {rsigma[2]:.2f} s CPU: "
                     f"trailql takes **{d_wall / rsigma[1]:.2f}x** its time")
    return lines


RSIGMA_VERSION = "0.23.0"
LAKE_MARK = "- Lake: "
LAKE_SQL_MARK = "- Lake SQL: "

# The same questions in CloudTrail Lake's SQL (event data store placeholder, camelCase columns,
# requestParameters a map) and in Athena's (JSON text and json_extract_scalar), over the raw trail.
LAKE_SQL_PAIRS = [
    ("map of every record",
     "SELECT count(*) FROM $EDS_ID WHERE element_at(requestParameters, 'groupId') IS NOT NULL",
     "SELECT count(*) FROM cloudtrail_logs WHERE json_extract_scalar(requestparameters, '$.groupId') IS NOT NULL"),
    ("group by event",
     "SELECT eventSource, eventName, count(*) AS n FROM $EDS_ID GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 10",
     "SELECT eventsource, eventname, count(*) AS n FROM cloudtrail_logs GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 10"),
]


def lake_sql_bench(a):
    """Each Lake statement against its Athena form, taking turns; the answers must agree."""
    lines = []
    src = str(a.data / "AWSLogs")
    for name, lake_sql, athena_sql in LAKE_SQL_PAIRS:
        cmds = {k: [str(TRAILQL), "query", "--format", "csv", "-q", "-s", src, sql]
                for k, sql in [("lake", lake_sql), ("athena", athena_sql)]}
        res = {k: [] for k in cmds}
        for _ in range(a.runs):
            for k, cmd in cmds.items():
                res[k].append(timed(cmd))
        (lo, lw, lc, lr), (ao, aw, ac, ar) = median_of(res["lake"]), median_of(res["athena"])
        same = csv_rows(lo) == csv_rows(ao)
        print(f"  lake-sql {name}: {lw:.2f}s (Lake) vs {aw:.2f}s (Athena), same answer: {same}", flush=True)
        lines.append(f"{LAKE_SQL_MARK if not lines else '  - Lake SQL: '}{name}: `{lake_sql}` "
                     f"{lw:.2f} s wall ({lc:.2f} s CPU, {lr:.0f} MB) against its Athena form "
                     f"{aw:.2f} s ({ac:.2f} s CPU, {ar:.0f} MB): **{lw / aw:.2f}x**; same answer: "
                     f"{'yes' if same else 'NO'}")
    return lines
WATCH_MARK = "- Watch: "


def timed_lines(p):
    """The lines of `p`'s standard output as they come, each with the time it was read."""
    import queue
    import threading
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put((time.perf_counter(), l)) for l in p.stdout],
                     daemon=True).start()
    return lines


def alerts_after(lines, want, start, timeout):
    """Seconds from `start` until every event id in `want` had its "opened to the world" alert."""
    want = set(want)
    while want:
        at, line = lines.get(timeout=timeout)
        alert = json.loads(line)
        if alert["rule_title"] == "Security group opened to the world":
            want.discard(alert["event_id"])
    return at - start


def watch_bench(rounds=5):
    """`trailql watch` on a folder, polling every 10 minutes so that only file-system
    notifications can make it quick: the time from a file with a planted opening landing in
    the folder to its alert on stdout, for `rounds` files; then the CPU it uses idle over 10 s;
    then a backfill (`--once`) of a 7-day trail."""
    with tempfile.TemporaryDirectory() as t:
        t = Path(t)
        gen = t / "gen"
        subprocess.run([str(TRAILQL), "generate", str(gen), "--events", "20000", "--days", "1",
                        "--openings", str(rounds), "--seed", "3"], check=True, capture_output=True)
        found = subprocess.run([str(TRAILQL), "detect", "-q", "-s", str(gen / "AWSLogs"), "--format", "json"],
                               check=True, capture_output=True, text=True).stdout
        sg = [a for a in json.loads(found) if a["rule_title"] == "Security group opened to the world"]
        # In delivery order (the time stamp in the name), as CloudTrail delivers them: a file
        # delivered more than --late-margin before the newest one seen is not looked for.
        files = sorted({a["file"] for a in sg}, key=lambda f: (Path(f).name.split("_")[3], f))[:rounds]
        watched = t / "watched"
        watched.mkdir()
        p = subprocess.Popen([str(TRAILQL), "watch", "-s", str(watched), "--state", str(t / "state"),
                              "--start", "2024-01-01", "--interval", "600", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = timed_lines(p)
        time.sleep(1.0)
        latencies = []
        try:
            for f in files:
                want = {a["event_id"] for a in sg if a["file"] == f}
                dest = watched / Path(f).relative_to(gen)
                dest.parent.mkdir(parents=True, exist_ok=True)
                start = time.perf_counter()
                shutil.copyfile(f, dest)
                latencies.append(alerts_after(lines, want, start, timeout=30))
                time.sleep(0.5)
            def cpu_ticks():
                fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
                return int(fields[11]) + int(fields[12])
            before = cpu_ticks()
            time.sleep(10)
            idle_cpu = (cpu_ticks() - before) / os.sysconf("SC_CLK_TCK") / 10
        finally:
            p.terminate()
            p.wait()
        sqs_latencies = sqs_watch_latencies(t, gen, files, sg)
        backfill_dir = t / "week"
        subprocess.run([str(TRAILQL), "generate", str(backfill_dir), "--events", "200000", "--days", "7"],
                       check=True, capture_output=True)
        n_files = sum(1 for _ in backfill_dir.glob("AWSLogs/**/*.json.gz"))
        _, b_wall, b_cpu, b_rss = timed([str(TRAILQL), "watch", "-q", "-s", str(backfill_dir / "AWSLogs"),
                                         "--state", str(t / "state-week"), "--start", "2024-01-01", "--once",
                                         "--no-stdout", "--alert-file", str(t / "week.jsonl")])
    return {"latencies": latencies, "idle_cpu": idle_cpu, "sqs": sqs_latencies,
            "backfill": (200_000, n_files, b_wall, b_cpu, b_rss)}


def sqs_watch_latencies(t, gen, files, sg):
    """`trailql watch --sqs` against moto's S3 and SQS on loopback: each file is put in the
    bucket, then CloudTrail's SNS notification naming it is sent; the time from the send to
    the alert on stdout. None when moto is not installed."""
    import socket
    import urllib.request
    try:
        import boto3
    except ImportError:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-c", f"from moto.server import main; main(['-H', '127.0.0.1', '-p', '{port}'])"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/data.json", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                  aws_secret_access_key="secret")
        s3, sqs = boto3.client("s3", **kw), boto3.client("sqs", **kw)
        s3.create_bucket(Bucket="bench-trail")
        url = sqs.create_queue(QueueName="bench-deliveries")["QueueUrl"]
        p = subprocess.Popen([str(TRAILQL), "watch", "--sqs", url, "--endpoint-url", endpoint,
                              "--state", str(t / "state-sqs"), "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        lines = timed_lines(p)
        time.sleep(2.0)
        latencies = []
        try:
            for f in files:
                want = {a["event_id"] for a in sg if a["file"] == f}
                key = str(Path(f).relative_to(gen))
                s3.put_object(Bucket="bench-trail", Key=key, Body=Path(f).read_bytes())
                inner = json.dumps({"s3Bucket": "bench-trail", "s3ObjectKey": [key]})
                start = time.perf_counter()
                sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Type": "Notification", "Message": inner}))
                latencies.append(alerts_after(lines, want, start, timeout=60))
                time.sleep(0.5)
        finally:
            p.terminate()
            p.wait()
        return latencies
    finally:
        server.terminate()
        server.wait()


def watch_report(w):
    lat = sorted(w["latencies"])
    events, files, wall, cpu, rss = w["backfill"]
    return [
        f"{WATCH_MARK}a trail file with a planted opening copied into a watched folder (polled every 10 min, "
        f"so woken by file-system notification) has its alert on stdout after **{statistics.median(lat)*1000:.0f} ms** "
        f"median (max {lat[-1]*1000:.0f} ms, {len(lat)} files; 100 ms of it is the pause that lets a burst of "
        f"notifications settle); idle, the watch uses "
        f"{w['idle_cpu']*100:.2f}% of a core.",
        *([f"  - watch `--sqs` (moto's S3 and SQS on loopback): from CloudTrail's notification sent to its "
           f"alert on stdout **{statistics.median(sorted(w['sqs']))*1000:.0f} ms** median (max "
           f"{max(w['sqs'])*1000:.0f} ms, {len(w['sqs'])} files; the queue is long-polled, the object "
           f"read from the bucket)."] if w.get("sqs") else []),
        f"  - watch: a backfill (`--once`) of {events:,} events in {files:,} files: {wall:.2f} s wall, "
        f"{cpu:.2f} s CPU, peak RSS {rss:.0f} MB (one file at a time, every file and alert journaled with an fsync).",
    ]


def lake_queries(a, lake, event_id, label):
    """needle, aggregate and a lookup by event id on `lake`: trailql against DuckDB on the same
    files, taking turns. Rows (query, tool, wall, cpu, rss) and whether the answers agree."""
    pq_glob = f"{lake}/*/*/*/*.parquet"
    src = f"read_parquet('{pq_glob}', hive_partitioning=true)"
    id_where = f"eventid = '{event_id}'"
    duck_sql = {
        "needle": f"SELECT eventid FROM {src} WHERE {NEEDLE_WHERE_SQL} ORDER BY 1",
        "aggregate": (f"SELECT eventsource, eventname, count(*) AS n FROM {src} "
                      "GROUP BY 1, 2 ORDER BY n DESC, 1, 2 LIMIT 10"),
        "id": f"SELECT eventtime, eventname, eventsource FROM {src} WHERE {id_where}",
    }
    trailql = {
        "needle": trailql_cmd("needle", [lake]),
        "aggregate": trailql_cmd("aggregate", [lake]),
        "id": [str(TRAILQL), "query", "--format", "csv", "-q", "-s", str(lake),
               f"SELECT eventtime, eventname, eventsource FROM cloudtrail_logs WHERE {id_where}"],
    }
    rows, agree = [], True
    for q in ["needle", "aggregate", "id"]:
        script = ("import duckdb\ncon = duckdb.connect()\ncon.execute(\"SET threads TO 2\")\n"
                  f"for row in con.execute({duck_sql[q]!r}).fetchall(): print('\\t'.join(map(str, row)))\n")
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
            f.write(script)
        res = {"trailql": [], "duckdb": []}
        for _ in range(a.runs):
            res["trailql"].append(timed(trailql[q]))
            res["duckdb"].append(timed([sys.executable, f.name]))
        os.unlink(f.name)
        t_out, tw, tc, tr = median_of(res["trailql"])
        d_out, dw, dc, dr = median_of(res["duckdb"])
        same = normalise("\n".join(csv_rows(t_out)).replace(",", "\t")) == normalise(d_out)
        agree &= same and bool(normalise(d_out))
        print(f"  lake {q}{label}: trailql {tw:.2f}s, duckdb {dw:.2f}s, same answer: {same}", flush=True)
        rows += [(f"lake {q}{label}", "trailql", tw, tc, tr), (f"lake {q}{label}", "duckdb", dw, dc, dr)]
    return rows, agree


def lake_bench(a, glob, gz_bytes):
    lake = a.data / "lake"
    if lake.exists():
        shutil.rmtree(lake)
    _, s_wall, s_cpu, s_rss = timed([str(TRAILQL), "lake", "sync", "-q", "-s", str(a.data / "AWSLogs"),
                                     "--lake", str(lake)])
    _, resync, _, _ = timed([str(TRAILQL), "lake", "sync", "-q", "-s", str(a.data / "AWSLogs"),
                             "--lake", str(lake)])
    parquet = list(lake.rglob("*.parquet"))
    size, files = sum(f.stat().st_size for f in parquet), len(parquet)
    out_pq = a.data / "duckdb-copy.parquet"
    conv = ("import duckdb\ncon = duckdb.connect()\ncon.execute(\"SET threads TO 2\")\n"
            f"con.execute(\"COPY (SELECT unnest(Records, max_depth := 2) FROM read_json('{glob}', "
            f"maximum_object_size=268435456)) TO '{out_pq}' (FORMAT parquet)\")\n")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(conv)
    try:
        _, d_wall, d_cpu, d_rss = timed([sys.executable, f.name])
    finally:
        os.unlink(f.name)
        if out_pq.exists():
            out_pq.unlink()
    rows = [("lake sync", "trailql", s_wall, s_cpu, s_rss), ("lake sync", "duckdb", d_wall, d_cpu, d_rss)]
    # A lookup by id: an event of the middle of the trail, the same for every tool.
    import duckdb
    event_id = duckdb.sql(f"SELECT eventid FROM read_parquet('{lake}/*/*/*/*.parquet') "
                          "WHERE eventname = 'RunInstances' ORDER BY eventid LIMIT 1 OFFSET 500").fetchall()[0][0]
    raw_id = median_run([str(TRAILQL), "query", "--format", "csv", "-q", "-s", str(a.data / "AWSLogs"),
                         f"SELECT eventtime, eventname, eventsource FROM cloudtrail_logs WHERE eventid = '{event_id}'"],
                        a.runs)
    q_rows, agree = lake_queries(a, lake, event_id, "")
    rows += q_rows
    _, c_wall, c_cpu, c_rss = timed([str(TRAILQL), "lake", "compact", "-q", "--lake", str(lake)])
    c_files = len(list(lake.rglob("*.parquet")))
    rows.append(("lake compact", "trailql", c_wall, c_cpu, c_rss))
    q_rows, agree2 = lake_queries(a, lake, event_id, " (compacted)")
    rows += q_rows
    d_rows, same_alerts = lake_detect(a, lake)
    rows += d_rows
    return {"rows": rows, "resync": resync, "bytes": size, "agree": agree and agree2 and same_alerts,
            "files": files, "compacted_files": c_files, "raw_id": raw_id[1:4], "same_alerts": same_alerts}


def lake_detect(a, lake):
    """`trailql detect` (the bundled pack) on `lake` and on the raw trail, taking turns, alerts
    to a file. Rows (query, tool, wall, cpu, rss) and whether the alerts are the same."""
    out = Path(tempfile.mkdtemp(prefix="trailql-lake-detect-"))
    runs = {"lake": [], "raw": []}
    srcs = {"lake": lake, "raw": a.data / "AWSLogs"}
    for _ in range(a.runs):
        for k in ["lake", "raw"]:
            runs[k].append(timed([str(TRAILQL), "detect", "--format", "csv", "-q", "-s", str(srcs[k]),
                                  "--output", str(out / f"{k}.csv")]))
    alerts = {k: sorted(open(out / f"{k}.csv").read().splitlines()) for k in srcs}
    shutil.rmtree(out)
    same = alerts["lake"] == alerts["raw"] and len(alerts["raw"]) > 1
    _, lw, lc, lr = median_of(runs["lake"])
    _, rw, rc, rr = median_of(runs["raw"])
    print(f"  lake detect: lake {lw:.2f}s, raw trail {rw:.2f}s, same alerts: {same}", flush=True)
    return [("lake detect (compacted)", "trailql", lw, lc, lr),
            ("lake detect (raw trail)", "trailql", rw, rc, rr)], same


def lake_report(lake, raw, gz_bytes):
    """BENCHMARKS.md lines of the lake (`raw`: trailql's wall time on the raw trail by query)."""
    lt = {(q, tool): w for q, tool, w, _, _ in lake["rows"]}
    lr = {(q, tool): r for q, tool, _, _, r in lake["rows"]}
    lines = [f"{LAKE_MARK}`lake sync` {lt[('lake sync', 'trailql')]:.2f} s (peak RSS "
             f"{lr[('lake sync', 'trailql')]:.0f} MB) against DuckDB's `read_json` → "
             f"`COPY … (FORMAT parquet)` {lt[('lake sync', 'duckdb')]:.2f} s "
             f"(**{lt[('lake sync', 'trailql')] / lt[('lake sync', 'duckdb')]:.2f}x**); a second sync with "
             f"nothing new {lake['resync']:.2f} s; lake {lake['bytes']/1e6:.0f} MB = "
             f"**{lake['bytes'] / gz_bytes:.2f}x** the raw gzip bytes, {lake['files']} files; answers agree: "
             f"{'yes' if lake['agree'] else 'NO'}"]
    def queries(label):
        parts = []
        for q, name in [("needle", "needle"), ("aggregate", "aggregate"), ("id", "lookup by eventid")]:
            lw, dw = lt[(f"lake {q}{label}", "trailql")], lt[(f"lake {q}{label}", "duckdb")]
            parts.append(f"{name} {lw:.2f} s against DuckDB's {dw:.2f} s on the same files (**{lw / dw:.2f}x**), "
                         f"**{raw[q] / lw:.1f}x** faster than trailql on the raw trail ({raw[q]:.2f} s)")
        return "; ".join(parts)
    lines.append(f"  - on the lake as sync leaves it ({lake['files']} files): {queries('')}")
    lines.append(f"  - `lake compact` {lt[('lake compact', 'trailql')]:.2f} s (peak RSS "
                 f"{lr[('lake compact', 'trailql')]:.0f} MB), {lake['files']} → {lake['compacted_files']} files; "
                 f"on the compacted lake: {queries(' (compacted)')}")
    dl, dr = lt[("lake detect (compacted)", "trailql")], lt[("lake detect (raw trail)", "trailql")]
    lines.append(f"  - `detect` (the bundled pack, alerts to a file) on the compacted lake {dl:.2f} s (peak RSS "
                 f"{lr[('lake detect (compacted)', 'trailql')]:.0f} MB) against {dr:.2f} s on the raw trail "
                 f"(**{dl / dr:.2f}x**); same alerts: {'yes' if lake['same_alerts'] else 'NO'}")
    return lines


def rsigma_run(a, rules):
    """The rsigma CLI over the trail's events as JSON lines: (out, wall, cpu, rss, matches)."""
    exe = shutil.which("rsigma") or str(Path.home() / ".cargo" / "bin" / "rsigma")
    if not Path(exe).exists():
        try:
            sh(f"cargo install rsigma --version {RSIGMA_VERSION} --locked")
        except subprocess.CalledProcessError:
            print("  rsigma could not be installed: skipped", flush=True)
            return None
    lines = a.data / "events.jsonl"
    if not lines.exists():
        import gzip
        with open(lines, "w") as out:
            for f in sorted(a.data.glob("AWSLogs/**/*.json.gz")):
                for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]:
                    out.write(json.dumps(r, separators=(",", ":")) + "\n")
    matches = a.data / "rsigma.out"
    cmd = ["sh", "-c", f"{exe} engine eval -r {rules} < {lines} > {matches}"]
    runs = [timed(cmd) for _ in range(a.runs)]
    out, wall, cpu, rss = median_of(runs)
    with open(matches) as f:
        n = sum(1 for l in f if l.strip())
    matches.unlink()
    return out, wall, cpu, rss, n


def machine():
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}"


if __name__ == "__main__":
    sys.exit(main())
