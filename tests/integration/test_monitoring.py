"""The shipped Grafana dashboard and Prometheus alert rules, against a real Prometheus.

Starts two ntsd (one serves as the other's upstream time source, so the upstream metrics
exist too), then Debian's Prometheus on a free loopback port with its own data folder in
the test's temp dir, scraping the second ntsd every second and loading
packaging/prometheus/ntsd.rules.yml. Drives NTS-KE and NTS with nts-query, plain NTP
with single requests and an nts-bench burst over the rate limit, and a burst of NTS
requests with bad cookies. Once Prometheus holds two scrapes taken after that traffic:

* every query of every dashboard panel (and of the instance variable), with $instance set
  to the scraped instance and $__rate_interval to 1m, must run without error and return
  at least one series; a few are checked for the traffic sent (NTS and plain answers, the
  NAK burst as unknown_cookie_key, rate limiting, successful NTS-KE sessions);
* every alert rule expression must run without error. An alert expression is rightly
  empty while nothing is wrong, so the series check applies to its comparison-free
  operands instead: the expression is split at top-level `and`/`or`/`unless` and
  trailing comparisons with a constant (`> 0.25`, `< 14 * 86400`) are dropped from each
  part (`ntsd_time_stratum > 4 < 16` -> `ntsd_time_stratum`). Each part must return
  series; rules of group `ntsd-host` read node_exporter's metrics, which this test does
  not run, so only their evaluation without error is checked;
* Prometheus itself reports every rule healthy after evaluating it.

Prometheus is stopped and its folder removed also when the test fails (harness cleanup).
"""

import json
import os
import re
import shutil
import unittest
import urllib.error
import urllib.parse
import urllib.request

from hostile_common import udp_from
from ntsd_harness import REPO_ROOT, NtsdTestCase, free_port, ntp_query, wait_until
from test_hostile_inputs import nts

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
DASHBOARD = os.path.join(REPO_ROOT, "packaging", "grafana", "ntsd-dashboard.json")
RULES = os.path.join(REPO_ROOT, "packaging", "prometheus", "ntsd.rules.yml")
RATE_INTERVAL = "1m"
# Groups whose rules read metrics of other exporters (see ntsd.rules.yml).
FOREIGN_RULE_GROUPS = {"ntsd-host"}

# --------------------------------------------------------------------------- PromQL

_COMPARISON = re.compile(r"==|!=|>=|<=|>|<")
_CONSTANT = re.compile(r"\s*(bool\s+)?[-+0-9.eE*/ ()]+\s*")
_SET_OP = re.compile(r"\b(and|or|unless)\b\s*((on|ignoring)\s*\([^)]*\))?\s*")


def _top_level(expr):
    """Yields (index, char) of the characters of `expr` outside (), {}, [] and quotes."""
    depth = 0
    quote = None
    i = 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        elif depth == 0:
            yield i, c
        i += 1


def _strip_outer_parens(expr):
    expr = expr.strip()
    while expr.startswith("(") and expr.endswith(")"):
        inner = expr[1:-1]
        # The parens enclose the whole expression only if every top-level character of
        # the inner text is balanced on its own.
        depth = 0
        for c in inner:
            depth += c == "("
            depth -= c == ")"
            if depth < 0:
                return expr
        expr = inner.strip()
    return expr


def _split_set_ops(expr):
    """Splits at top-level and/or/unless (with their on()/ignoring() modifiers)."""
    mask = [" "] * len(expr)
    for i, c in _top_level(expr):
        mask[i] = c
    masked = "".join(mask)
    parts = []
    start = 0
    for m in _SET_OP.finditer(masked):
        parts.append(expr[start:m.start()])
        start = m.end()
    parts.append(expr[start:])
    return [p.strip() for p in parts if p.strip()]


def _strip_comparison(expr):
    """Drops one trailing top-level `OP constant`; None when there is none."""
    last = None
    for i, _ in _top_level(expr):
        m = _COMPARISON.match(expr, i)
        # `=~`/`!~` only occur inside {}, which _top_level skips.
        if m and (last is None or i > last[1]):
            last = (i, m.end())
    if last is None or not _CONSTANT.fullmatch(expr[last[1]:]):
        return None
    return expr[:last[0]].strip()


def comparison_free_parts(expr):
    """The operands an alert expression is built from, without comparisons to constants."""
    expr = _strip_outer_parens(expr)
    while True:
        stripped = _strip_comparison(expr)
        if stripped is None:
            break
        expr = _strip_outer_parens(stripped)
    parts = _split_set_ops(expr)
    if len(parts) == 1:
        return parts
    out = []
    for part in parts:
        out += comparison_free_parts(part)
    return out


class PromqlSplitTest(unittest.TestCase):
    """The splitter the rule check relies on (so that check cannot pass vacuously)."""

    def test_parts(self):
        cases = {
            'up{job="ntsd"} == 0': ['up{job="ntsd"}'],
            "ntsd_time_stratum > 4 < 16": ["ntsd_time_stratum"],
            "ntsd_time_leap == 1 or ntsd_time_leap == 2": ["ntsd_time_leap", "ntsd_time_leap"],
            "x - time() < 14 * 86400": ["x - time()"],
            'sum by (a) (rate(r{o!="ok"}[10m])) / sum by (a) (rate(r[10m])) > 0.25\n'
            "and sum by (a) (increase(r[10m])) >= 20":
                ['sum by (a) (rate(r{o!="ok"}[10m])) / sum by (a) (rate(r[10m]))',
                 "sum by (a) (increase(r[10m]))"],
            "(a + b or c) > 0": ["a + b", "c"],
            "a > on(x) b": ["a > on(x) b"],
        }
        for expr, want in cases.items():
            self.assertEqual(comparison_free_parts(expr), want, expr)


# --------------------------------------------------------------------------- dashboard

def dashboard_targets(dashboard):
    """[(panel title, expr)] for every query of every panel, rows' panels included."""
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                out.append((p["title"], t["expr"]))

    walk(dashboard["panels"])
    return out


def substitute(expr, instance):
    out = (expr.replace("$__rate_interval", RATE_INTERVAL)
           .replace("${instance}", instance).replace("$instance", instance))
    if "$" in out:
        raise AssertionError("unknown template variable in %r" % expr)
    return out


def rule_expressions():
    """[(group, alert, expr)] from the rules file (YAML read without a YAML library:
    the file keeps one `- alert:` line and one `expr:` per rule, block or inline)."""
    rules = []
    group = None
    with open(RULES) as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- name: (\S+)", line)
        if m:
            group = m.group(1)
        m = re.match(r"\s*- alert: (\S+)", line)
        if m:
            rules.append([group, m.group(1), None])
        m = re.match(r"(\s*)expr: ?(.*)$", line)
        if m:
            indent, value = len(m.group(1)), m.group(2).strip()
            if value in (">-", ">", "|", "|-"):
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i].strip())
                    i += 1
                value = " ".join(body)
                i -= 1
            rules[-1][2] = value
        i += 1
    return [tuple(r) for r in rules]


# --------------------------------------------------------------------------- the test

class MonitoringTest(NtsdTestCase):

    def start_prometheus(self, metrics_target):
        self.require_file(PROMETHEUS, "prometheus (Debian package prometheus; make deps)")
        for _ in range(4):
            port = free_port("tcp")
            workdir = os.path.join(self.tmp, "prometheus-%d" % port)
            os.makedirs(os.path.join(workdir, "data"))
            conf = os.path.join(workdir, "prometheus.yml")
            with open(conf, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        "  evaluation_interval: 1s\n"
                        "rule_files:\n  - %s\n"
                        "scrape_configs:\n  - job_name: ntsd\n    static_configs:\n"
                        "      - targets: [\"%s\"]\n" % (json.dumps(RULES), metrics_target))
            proc = self.spawn("prometheus", [
                PROMETHEUS, "--config.file=" + conf,
                "--storage.tsdb.path=" + os.path.join(workdir, "data"),
                "--web.listen-address=127.0.0.1:%d" % port,
                "--storage.tsdb.retention.time=1h"])
            self.prom_url = "http://127.0.0.1:%d" % port
            if wait_until(lambda: proc.poll() is not None or self._ready(), 30, 0.2) \
                    and proc.poll() is None:
                return proc
            if "address already in use" in proc.stderr():
                continue
            break
        self.fail("Prometheus did not become ready:\n" + proc.logs())

    def _ready(self):
        try:
            with urllib.request.urlopen(self.prom_url + "/-/ready", timeout=2) as r:
                return r.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def api(self, path, **params):
        url = self.prom_url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
        return body

    def query(self, expr):
        """-> (error or None, [result])."""
        body = self.api("/api/v1/query", query=expr)
        if body.get("status") != "success":
            return "%s: %s" % (body.get("errorType"), body.get("error")), []
        return None, body["data"]["result"]

    def value(self, expr):
        error, result = self.query(expr)
        self.assertIsNone(error, expr)
        return [float(r["value"][1]) for r in result]

    def drive_traffic(self, server):
        target = "127.0.0.1:%d" % server.ke_port
        for _ in range(3):
            res = self.nts_query(target, "--count", "3", "--interval", "0", "--timeout", "5")
            self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        for _ in range(5):
            _, reply = ntp_query("127.0.0.1", server.ntp_port)
            self.assertIsNotNone(reply, "no plain NTP answer")
        # A burst of bad cookies (a key id ntsd never held): one NAK each. From another
        # /24 than the rest, so that it stays within its own rate limit bucket.
        for _ in range(20):
            self.assertIsNotNone(udp_from("127.0.1.1", "127.0.0.1", server.ntp_port, nts(), 1.0))
        # Plain NTP from one address at 200/s, over the default 16/s rate limit.
        res = self.run_tool([self.nts_bench_bin, "ntp", "127.0.0.1:%d" % server.ntp_port,
                             "--rate", "200", "--duration", "1", "--timeout-ms", "200"], 30)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def metrics_port(self, proc):
        pattern = re.compile(r"metrics listening on 127\.0\.0\.1:(\d+) \(HTTP")
        found = wait_until(lambda: pattern.search(proc.stderr()), 10)
        self.assertTrue(found, "no 'metrics listening on' line:\n" + proc.logs())
        return int(found.group(1))

    def test_dashboard_and_rules_against_prometheus(self):
        self.nts_bench_bin = os.path.join(os.path.dirname(self.nts_query_bin), "nts-bench")
        self.require_file(self.nts_bench_bin, "nts-bench")
        upstream = self.start_ntsd(stratum=1)
        server = self.start_ntsd(
            source_args=["--time-source", "upstream",
                         "--upstream", "127.0.0.1:%d" % upstream.ntp_port],
            extra=["--metrics-listen", "127.0.0.1:0",
                   "--census-log", os.path.join(self.tmp, "census.jsonl")])
        instance = "127.0.0.1:%d" % self.metrics_port(server.proc)
        self.start_prometheus(instance)
        # A first scrape before the traffic, so that rates see the counters move.
        self.assertTrue(wait_until(lambda: self.value('up{job="ntsd"} == 1'), 15, 0.2),
                        "Prometheus never scraped ntsd: %s" % self.api("/api/v1/targets"))

        self.drive_traffic(server)
        # Two scrapes after the traffic: the first scrape whose sample holds all the NTS
        # requests sent (9 answered, 20 NAKed), then one more.
        nts_total = 'sum(ntsd_ntp_requests_total{kind="nts"})'
        seen = wait_until(lambda: (self.value(nts_total) or [0])[0] >= 29, 20, 0.2)
        self.assertTrue(seen, "Prometheus never scraped the NTS traffic: %s" %
                        self.api("/api/v1/targets"))
        last_scrape = 'timestamp(up{job="ntsd"})'
        first = self.value(last_scrape)[0]
        self.assertTrue(wait_until(lambda: self.value(last_scrape)[0] > first, 10, 0.2),
                        "no second scrape: %s" % self.api("/api/v1/targets"))

        self.check_dashboard(instance)
        self.check_rules()

    def check_dashboard(self, instance):
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        m = re.fullmatch(r"label_values\((\w+), instance\)", variables["instance"]["definition"])
        self.assertTrue(m, variables["instance"])
        error, result = self.query(m.group(1))
        self.assertIsNone(error)
        self.assertIn(instance, [r["metric"].get("instance") for r in result])

        ids = [p["id"] for p in dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids repeat")
        for p in dashboard["panels"]:
            for t in p.get("targets", []):
                # Every query goes to the data source the user picked.
                self.assertEqual(t["datasource"]["uid"], "${datasource}", p["title"])

        targets = dashboard_targets(dashboard)
        self.assertGreater(len(targets), 20)
        failures = []
        results = {}
        for title, expr in targets:
            error, result = self.query(substitute(expr, instance))
            if error or not result:
                failures.append("%s: %s -> %s" % (title, expr, error or "no series"))
            results[expr] = result
        self.assertEqual(failures, [], "dashboard queries that fail:\n" + "\n".join(failures))

        def panel_values(title, label, value):
            exprs = [e for t, e in targets if t == title]
            return [float(r["value"][1]) for e in exprs for r in results[e]
                    if r["metric"].get(label) == value]

        self.assertGreater(sum(panel_values("Answers per second", "kind", "nts")), 0)
        self.assertGreater(sum(panel_values("Answers per second", "kind", "plain")), 0)
        self.assertGreater(sum(panel_values("NTS NAKs by reason", "reason",
                                            "unknown_cookie_key")), 0)
        self.assertEqual(sum(panel_values("NTS NAKs by reason", "reason", "cookie_tag_failed")),
                         0)
        self.assertGreater(sum(panel_values("NTS-KE sessions by outcome", "outcome", "ok")), 0)
        limited = sum(panel_values("Rate limiting", "outcome", "rate_limited") +
                      panel_values("Rate limiting", "outcome", "rate_limited_dropped"))
        self.assertGreater(limited, 0)

    def check_rules(self):
        rules = rule_expressions()
        self.assertGreaterEqual(len(rules), 10)
        failures = []
        for group, alert, expr in rules:
            self.assertTrue(expr, alert)
            error, _ = self.query(expr)
            if error:
                failures.append("%s: %s -> %s" % (alert, expr, error))
                continue
            parts = comparison_free_parts(expr)
            for part in parts:
                error, result = self.query(part)
                if error or (not result and group not in FOREIGN_RULE_GROUPS):
                    failures.append("%s: part %s -> %s" % (alert, part, error or "no series"))
        self.assertEqual(failures, [], "alert rule expressions that fail:\n" + "\n".join(failures))

        # Prometheus evaluated each rule itself (every second) without an error.
        def all_evaluated():
            groups = self.api("/api/v1/rules")["data"]["groups"]
            loaded = [r for g in groups for r in g["rules"]]
            if len(loaded) != len(rules):
                return None
            if any(r["lastEvaluation"].startswith("0001-") for r in loaded):
                return None
            return loaded

        loaded = wait_until(all_evaluated, 10, 0.2)
        self.assertTrue(loaded, "Prometheus did not load and evaluate every rule: %s" %
                        self.api("/api/v1/rules"))
        unhealthy = [(r["name"], r.get("lastError")) for r in loaded if r["health"] != "ok"]
        self.assertEqual(unhealthy, [])


if __name__ == "__main__":
    unittest.main()
