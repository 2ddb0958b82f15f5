"""The rollout proofs (see scripts/prove-rollout): an engine, the mock vendor and the command line, on loopback."""
import argparse, json, os, signal, sqlite3, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delivery_proofs import SECRET, Vendor, free_port, send, wait_http, wait_until  # noqa: E402

MASK = (1 << 64) - 1


def bucket(key):
    """RolloutSplit.bucket: FNV-1a 64 of the key's bytes, a finalizer, modulo 10,000."""
    value = 0xcbf29ce484222325
    for byte in key.encode():
        value = ((value ^ byte) * 0x100000001b3) & MASK
    value ^= value >> 33
    value = (value * 0xff51afd7ed558ccd) & MASK
    value ^= value >> 33
    return value % 10_000


def connector(port, body='{ id: "{% id %}" }', operation="post"):
    return f"""
connector: orders
version: 1
source:
  webhook:
    path: /hooks/orders
    verify: {{ scheme: github, secret: "${{env:PROOF_SECRET}}" }}
    event_id: id
targets:
  vendor:
    base_url: http://127.0.0.1:{port}
    concurrency: 16
    retry: {{ max_attempts: 2, backoff: {{ initial: 100ms, max: 200ms }} }}
    operations:
      post: {{ method: POST, path: "/cur/{{id}}" }}
      cand: {{ method: POST, path: "/cand/{{id}}" }}
      bad: {{ method: POST, path: "/bad/{{id}}" }}
      v2: {{ method: POST, path: "/v2/{{id}}" }}
routes:
  - name: deliver
    call: vendor.{operation}
    path: {{ id: "{{% id %}}" }}
    idempotency_key: "id"
    body: {body}
"""


class Engine:
    def __init__(self, options, vendor, text):
        self.bin = os.path.join(options.bin, "manifold")
        self.work = options.work
        self.directory = os.path.join(self.work, "connectors")
        os.makedirs(self.directory, exist_ok=True)
        open(os.path.join(self.directory, "orders.yaml"), "w").write(text)
        self.environment = os.path.join(self.work, "proof.env")
        open(self.environment, "w").write(f"PROOF_SECRET={SECRET}\nALERTS=http://127.0.0.1:{vendor.port}/alerts\n")
        self.config = os.path.join(self.work, "manifold.yaml")
        open(self.config, "w").write("version: 1\nalerts:\n  sinks:\n    - { name: ops, type: webhook, url: \"${env:ALERTS}\" }\n"
                                     "  rules:\n    - { kind: breaker_open }\n")
        self.store = os.path.join(self.work, "proof.db")
        self.port = free_port()
        self.process = None

    def start(self):
        log = open(os.path.join(self.work, "engine.log"), "ab")
        self.process = subprocess.Popen([self.bin, "run", "--connectors", self.directory, "--env-file", self.environment,
                                         "--config", self.config, "--store", self.store, "--listen", f"127.0.0.1:{self.port}",
                                         "--log-level", "error"], stdout=log, stderr=log)
        wait_http(self.port, "/healthz")

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def cli(self, *arguments):
        return subprocess.run([self.bin, *arguments], capture_output=True, text=True, timeout=120)

    def rollout(self, *arguments):
        run = self.cli("rollout", *arguments, "--store", self.store)
        if run.returncode != 0:
            raise SystemExit(f"manifold rollout {' '.join(arguments)}: {run.stdout}{run.stderr}")
        return run.stdout

    def start_rollout(self, candidate_text, *arguments):
        path = os.path.join(self.work, "candidate.yaml")
        open(path, "w").write(candidate_text)
        run = self.cli("rollout", "start", "orders", "--candidate", path, "--store", self.store, "--connectors", self.directory,
                       "--env-file", self.environment, *arguments)
        if run.returncode != 0:
            raise SystemExit(f"rollout start: {run.stdout}{run.stderr}")
        return run.stdout

    def running(self, mode, percent):
        """Waits until the engine runs the rollout (its share gauge shows it): it takes the store's within a second."""
        import http.client
        needle = f'manifold_rollout_share_percent{{connector="orders",mode="{mode}"}} {percent}'
        def shows():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            connection.request("GET", "/metrics")
            return needle in connection.getresponse().read().decode()
        if not wait_until(shows, 30, step=0.1):
            raise SystemExit("the engine did not take the rollout")

    def rollouts(self):
        return json.loads(self.cli("rollout", "status", "--store", self.store, "--format", "json").stdout or "[]")

    def pending(self):
        database = sqlite3.connect(self.store, timeout=10)
        try:
            return database.execute("SELECT count(*) FROM jobs WHERE state = 'pending'").fetchone()[0]
        finally:
            database.close()


def calls_by_kind(vendor):
    kinds = {}
    for call in vendor.log():
        kinds.setdefault(call["path"].split("/")[1], []).append(call)
    return kinds


def prove_canary(options, vendor, results):
    """200 events/s; a 10% canary whose calls the vendor refuses (400) is rolled back within its window, with an alert;
    the current version's deliveries are all made; nothing is lost or sent twice."""
    vendor.mode(prefix="/bad", status=400)
    engine = Engine(options, vendor, connector(vendor.port))
    engine.start()
    try:
        engine.start_rollout(connector(vendor.port, operation="bad"), "--share", "10", "--window", f"{options.window}s",
                             "--min-attempts", "10")
        engine.running("canary", "10.0")
        started = time.time()
        acknowledged = send(engine.port, "/hooks/orders", options.events, threads=4, rate=200, prefix="c", stop_after=300)
        rolled = wait_until(lambda: any(r["status"] == "rolled_back" for r in engine.rollouts()), 120, step=0.2)
        rollback = next((r for r in engine.rollouts() if r["status"] == "rolled_back"), {})
        entry = next((e for e in rollback.get("log", []) if e["action"] == "rollback"), {})
        start_entry = next((e for e in rollback.get("log", []) if e["action"] == "start"), {})
        stamp = lambda text: time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0" + text[19:23].rstrip("Z"))
        after = stamp(entry["at"]) - stamp(start_entry["at"]) if entry and start_entry else float("inf")
        wait_until(lambda: engine.pending() == 0, 120, step=0.2)
    finally:
        engine.stop()
    kinds = calls_by_kind(vendor)
    delivered = [c["key"] for c in kinds.get("cur", []) if c["status"] == 200]
    refused = {c["key"] for c in kinds.get("bad", [])}
    alerts = [c for c in kinds.get("alerts", [])]
    database = sqlite3.connect(engine.store)
    jobs = dict(database.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
    stored = database.execute("SELECT count(*) FROM events").fetchone()[0]
    database.close()
    print(f"{len(acknowledged)} events acknowledged at 200/s, {stored} stored; rolled back {after:.1f} s after the start by"
          f" {entry.get('by')}: {entry.get('detail')}")
    print(f"vendor: {len(delivered)} current calls delivered ({len(set(delivered))} keys), {len(refused)} candidate calls refused;"
          f" jobs {jobs}; alert notifications {len(alerts)}")
    results.append((f"the canary was rolled back by its guard within its {options.window} s window ({after:.1f} s), with an alert",
                    rolled and entry.get("by") == "auto-rollback" and after <= options.window and len(alerts) >= 1))
    results.append(("every acknowledged event stored, none lost", stored == len(acknowledged)))
    results.append(("no call delivered twice", len(delivered) == len(set(delivered))))
    results.append(("every current-version event delivered, and every candidate one a dead letter to replay",
                    len(set(delivered)) + len(refused) == len(acknowledged) and jobs.get("dead", 0) == len(refused)))
    results.append((f"the candidate took at most its share ({len(refused)} of {len(acknowledged)})", len(refused) <= 0.13 * len(acknowledged)))


def prove_share(options, vendor, results):
    """10,000 events at a 10% canary: the candidate's share within ±2 points, and every event's version the one its key selects."""
    engine = Engine(options, vendor, connector(vendor.port))
    engine.start()
    try:
        engine.start_rollout(connector(vendor.port, operation="cand"), "--share", "10")
        engine.running("canary", "10.0")
        acknowledged = send(engine.port, "/hooks/orders", options.events, threads=8, prefix="s", stop_after=300)
        wait_until(lambda: engine.pending() == 0, 300, step=0.2)
    finally:
        engine.stop()
    kinds = calls_by_kind(vendor)
    candidate = {c["key"] for c in kinds.get("cand", []) if c["status"] == 200}
    current = {c["key"] for c in kinds.get("cur", []) if c["status"] == 200}
    chosen = {event for event in acknowledged if bucket(event) < 1000}
    share = 100 * len(candidate) / max(1, len(acknowledged))
    print(f"{len(acknowledged)} events: {len(candidate)} to the candidate ({share:.2f}%), {len(current)} to the current")
    results.append((f"the candidate's share is within ±2 points of 10% ({share:.2f}%)", abs(share - 10) <= 2))
    results.append(("every event's version is the one its key selects", candidate == chosen and current == set(acknowledged) - chosen))


def prove_shadow(options, vendor, results):
    """A 100% shadow sends nothing of the candidate, and `rollout compare` reports exactly the injected differences."""
    engine = Engine(options, vendor, connector(vendor.port, body='{ id: "{% id %}", tier: "{% tier %}" }'))
    engine.start()
    count = options.events
    try:
        # Injected: a `phone` for gold customers (index % 4 == 1), another operation for type x (index % 10 == 0).
        candidate = connector(vendor.port, body='{ id: "{% id %}", tier: "{% tier %}", phone: "{% tier = \'gold\' ? phone : undefined %}" }')
        candidate = candidate.replace("    call: vendor.post\n", "    call: vendor.post\n").replace(
            "  - name: deliver\n    call: vendor.post", "  - name: deliver\n    call: vendor.post")
        candidate = candidate.replace("routes:\n  - name: deliver\n    call: vendor.post\n",
                                      "routes:\n  - name: deliver\n    when: type != 'x'\n    call: vendor.post\n") + \
            """  - name: deliver_x
    when: type = 'x'
    call: vendor.v2
    path: { id: "{% id %}" }
    idempotency_key: "id"
    body: { id: "{% id %}", tier: "{% tier %}" }
"""
        engine.start_rollout(candidate, "--share", "100", "--shadow")
        engine.running("shadow", "100.0")
        extra = lambda index: {"tier": "gold" if index % 4 == 1 else "basic", "phone": f"555-{index}", "type": "x" if index % 10 == 0 else "a"}
        acknowledged = send(engine.port, "/hooks/orders", count, threads=4, prefix="h", extra=extra, stop_after=300)
        wait_until(lambda: engine.pending() == 0, 120, step=0.2)
        compare = engine.cli("rollout", "compare", "orders", "--store", engine.store, "--format", "json")
        text = engine.cli("rollout", "compare", "orders", "--store", engine.store).stdout.splitlines()[:2]
    finally:
        engine.stop()
    kinds = calls_by_kind(vendor)
    report = json.loads(compare.stdout)
    patterns = {d["difference"]: d["events"] for d in report["differences"]}
    gold = sum(1 for i in range(count) if i % 4 == 1)
    typed = sum(1 for i in range(count) if i % 10 == 0)
    print("\n".join(text))
    print(f"vendor: {len(kinds.get('cur', []))} current calls, {len(kinds.get('v2', []))} to the candidate's operation; compare: {patterns}")
    results.append(("the shadow candidate sent nothing", not kinds.get("v2") and len(kinds.get("cur", [])) == len(acknowledged)))
    results.append(("compare reports exactly the injected differences", report["differ"] == gold + typed
                    and report["identical"] == len(acknowledged) - gold - typed
                    and patterns == {"`body.phone` added (route deliver)": gold, "`call` removed (route deliver)": typed,
                                     "`call` added (route deliver_x)": typed}))


def prove_promote(options, vendor, results):
    """A canary promoted under load: the candidate takes every event without a restart; no event is dropped or handled by both."""
    engine = Engine(options, vendor, connector(vendor.port))
    engine.start()
    try:
        engine.start_rollout(connector(vendor.port, operation="cand"), "--share", "10")
        engine.running("canary", "10.0")
        first = send(engine.port, "/hooks/orders", options.events // 2, threads=4, rate=200, prefix="p", stop_after=300)
        pid = engine.process.pid
        out = engine.cli("rollout", "promote", "orders", "--store", engine.store, "--connectors", engine.directory,
                         "--env-file", engine.environment)
        second = send(engine.port, "/hooks/orders", options.events // 2, threads=4, rate=200, prefix="q", stop_after=300)
        wait_until(lambda: engine.pending() == 0, 120, step=0.2)
        same = engine.process.pid == pid and engine.process.poll() is None
    finally:
        engine.stop()
    kinds = calls_by_kind(vendor)
    candidate = [c["key"] for c in kinds.get("cand", []) if c["status"] == 200]
    current = [c["key"] for c in kinds.get("cur", []) if c["status"] == 200]
    acknowledged = first + second
    both = set(candidate) & set(current)
    late = [key for key in second[len(second) // 2:] if key in current]
    print(f"promote: {out.stdout.strip()}")
    print(f"{len(acknowledged)} events; {len(current)} by the current version, {len(candidate)} by the candidate;"
          f" handled by both: {len(both)}; of the last quarter, by the current version: {len(late)}")
    results.append(("no restart", same))
    results.append(("no event dropped, none handled by both, none twice",
                    set(candidate) | set(current) == set(acknowledged) and not both and len(candidate) + len(current) == len(acknowledged)))
    results.append(("after the promote the candidate takes every event", not late))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["canary", "share", "shadow", "promote"])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--events", type=int)
    parser.add_argument("--window", type=int, default=30)
    options = parser.parse_args()
    options.events = options.events or {"canary": 4000, "share": 10_000, "shadow": 1000, "promote": 4000}[options.scenario]
    vendor = Vendor(options.bin, options.work)
    results = []
    try:
        globals()["prove_" + options.scenario](options, vendor, results)
    finally:
        vendor.stop()
    for name, ok in results:
        print(("PASS " if ok else "FAIL ") + name)
    sys.exit(0 if all(ok for _, ok in results) else 1)


if __name__ == "__main__":
    main()
