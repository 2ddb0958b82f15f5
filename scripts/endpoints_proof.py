"""The proof of sending to customers' endpoints (see scripts/prove-endpoints): an engine, one receiver process
serving 100 endpoints of 20 tenants on loopback, 10,000 events, checked at the receivers with the `standardwebhooks`
library. Every loop is bounded in count and time."""
import argparse, base64, hashlib, hmac, http.client, json, os, secrets, signal, socket
import subprocess, sys, threading, time

import standardwebhooks.webhooks as standard_webhooks
from datetime import datetime
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class ArrivalClock(datetime):
    """The verifier's clock set to each call's arrival: the log is checked after the run, as the receiver would have
    checked each call when it arrived (its 5-minute tolerance included)."""
    at = 0.0

    @classmethod
    def now(cls, tz=None):
        return datetime.fromtimestamp(cls.at, tz=tz)


standard_webhooks.datetime = ArrivalClock

HOOK_SECRET = "proof-hook-secret"
ADMIN_TOKEN = "proof-admin-token"
TENANTS = 20
PER_TENANT = 5
AUTO_DISABLE = 5


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from delivery_proofs import free_port, wait_http  # noqa: E402


class Receivers:
    """Every endpoint on one mock vendor (manifold-mock-vendor, on loopback): /t{tenant}/e{n}, each path answering 200,
    503 or after 2 s. It logs every call with its Standard Webhooks headers; the log is verified afterwards with the
    `standardwebhooks` library, with the secrets each receiver knows."""

    def __init__(self, bin_dir, work):
        self.port = free_port()
        self.process = subprocess.Popen([os.path.join(bin_dir, "manifold-mock-vendor"), "--port", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "vendor.log"), "ab"))
        wait_http(self.port, "/_stats")
        self.known = {}          # path -> [secrets]

    def mode(self, prefix, **settings):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        connection.request("POST", f"/_mode?prefix={prefix}&" + "&".join(f"{k}={v}" for k, v in settings.items()))
        connection.getresponse().read()

    def log(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request("GET", "/_log")
        return [json.loads(line) for line in connection.getresponse().read().decode().splitlines() if line]

    def received(self):
        """path -> [(arrival s, webhook-timestamp, latency ms, secrets that verify it, tenant ok, id)], and the alerts."""
        received, alerts = {}, []
        for call in self.log():
            path, body = call["path"], call["body"]
            if path == "/alerts":
                alerts.append(json.loads(body))
                continue
            headers = call.get("webhook") or {}
            verified = set()
            ArrivalClock.at = call["wall_ms"] / 1000
            for secret in self.known.get(path, []):
                try:
                    Webhook(secret).verify(body, headers)
                    verified.add(secret)
                except WebhookVerificationError:
                    pass
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {"unreadable": call.get("status"), "path": path}
                print("unreadable body:", json.dumps(call)[:300], file=sys.stderr)
            received.setdefault(path, []).append(
                (call["wall_ms"] / 1000, int(headers.get("webhook-timestamp", "0")), call["wall_ms"] - float(payload.get("sent_ms", 0)),
                 verified, path.startswith(f"/t{payload.get('tenant')}/"), payload.get("id")))
        return received, alerts

    def delivered_ids(self, path):
        """The event ids a path has answered 200 to, from the vendor's log."""
        return {json.loads(call["body"]).get("id") for call in self.log() if call["path"] == path and call["status"] < 300}

    def stop(self):
        self.process.kill()


class Engine:
    def __init__(self, bin_dir, work, receivers_port):
        self.bin = os.path.join(bin_dir, "manifold")
        self.work = work
        os.makedirs(os.path.join(work, "connectors"), exist_ok=True)
        open(os.path.join(work, "connectors", "app.yaml"), "w").write(f"""
connector: app
version: 1
source:
  webhook:
    path: /hooks/app
    verify: {{ scheme: github, secret: "${{env:HOOK_SECRET}}" }}
    event_id: id
    event_type: type
targets:
  customers:
    endpoints: {{ tenant: tenant, event_type: type, auto_disable_after: {AUTO_DISABLE}s, allow_private_networks: true, allow_insecure: true }}
    retry: {{ schedule: [1s, 2s, 5s] }}
    concurrency: 4
routes:
  - name: notify
    call: customers.send
    body: {{ id: "{{% id %}}", tenant: "{{% tenant %}}", type: "{{% type %}}", sent_ms: "{{% sent_ms %}}" }}
""")
        open(os.path.join(work, "manifold.yaml"), "w").write(f"""
version: 1
alerts:
  evaluate_every: 1s
  sinks:
    - {{ name: ops, type: webhook, url: "http://127.0.0.1:{receivers_port}/alerts" }}
  rules:
    - {{ name: breaker, kind: breaker_open }}
""")
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        open(os.path.join(work, "proof.env"), "w").write(
            f"HOOK_SECRET={HOOK_SECRET}\nMANIFOLD_ADMIN_TOKEN={ADMIN_TOKEN}\nMANIFOLD_ENDPOINT_KEY={key}\n")
        self.store = os.path.join(work, "proof.db")
        self.port = free_port()
        log = open(os.path.join(work, "engine.log"), "ab")
        self.process = subprocess.Popen(
            [self.bin, "run", "--connectors", os.path.join(work, "connectors"), "--env-file", os.path.join(work, "proof.env"),
             "--config", os.path.join(work, "manifold.yaml"), "--store", self.store, "--listen", f"127.0.0.1:{self.port}",
             "--log-level", os.environ.get("PROOF_LOG_LEVEL", "error")], stdout=log, stderr=log)
        wait_http(self.port, "/healthz")

    def admin(self, method, path, body=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"})
        response = connection.getresponse()
        text = response.read().decode()
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {text}")
        return json.loads(text)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def post_events(port, count, rate, halfway):
    """Posts `count` signed events, at most `rate` a second, over 8 connections; calls `halfway()` once at half."""
    threads = 8
    interval = threads / rate
    done = threading.Event()
    posted = [0]
    lock = threading.Lock()

    def run(offset):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        next_at = time.time()
        for index in range(offset, count, threads):
            now = time.time()
            if next_at > now:
                time.sleep(next_at - now)
            next_at += interval
            body = json.dumps({"id": f"e{index}", "tenant": str(index % TENANTS), "type": "order.created",
                               "sent_ms": int(time.time() * 1000)})
            signature = "sha256=" + hmac.new(HOOK_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            for attempt in range(3):
                try:
                    connection.request("POST", "/hooks/app", body=body,
                                       headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})
                    response = connection.getresponse()
                    response.read()
                    if response.status != 200:
                        raise SystemExit(f"the engine answered {response.status}")
                    break
                except OSError:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            with lock:
                posted[0] += 1
                if posted[0] == count // 2:
                    done.set()

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    done.wait(timeout=600)
    halfway()
    for worker in workers:
        worker.join(timeout=600)


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def run(bin_dir, work, bad, events, rate):
    os.makedirs(work, exist_ok=True)
    receivers = Receivers(bin_dir, work)
    engine = Engine(bin_dir, work, receivers.port)
    report = {"bad_endpoints": bad}
    try:
        endpoints = {}   # path -> id
        failing, slow = set(), set()
        for tenant in range(TENANTS):
            for n in range(PER_TENANT):
                path = f"/t{tenant}/e{n}"
                index = tenant * PER_TENANT + n
                if n == PER_TENANT - 1:   # 10 endpoints that answer 503, and 10 that answer after 2 s
                    if not bad:
                        continue
                    behaviour = "503" if index < 50 else "slow"
                    (failing if behaviour == "503" else slow).add(path)
                    if behaviour == "503":
                        receivers.mode(path, status=503)
                    else:
                        receivers.mode(path, delay_ms=2000)
                made = engine.admin("POST", "/admin/endpoints", {"tenant": str(tenant), "url": f"http://127.0.0.1:{receivers.port}{path}"})
                endpoints[path] = made["endpoint"]["id"]
                receivers.known[path] = [made["secret"]]
        time.sleep(1.5)   # a sweep loads the registry in other engines; this one reloaded at once
        rotated, removed = {}, {}

        def halfway():
            # Rotation: receivers of tenants 0-1 switch to the new secret, those of 2-4 keep the old one; each must
            # verify what is signed after the rotation with the one secret it knows.
            for tenant in range(5):
                path = f"/t{tenant}/e0"
                old = receivers.known[path][0]
                new = engine.admin("POST", f"/admin/endpoints/{endpoints[path]}/rotate", {"overlap": "1h"})["secret"]
                receivers.known[path] = [old, new]
                rotated[path] = (time.time(), new if tenant < 2 else old)
            path = f"/t{TENANTS - 1}/e1"
            engine.admin("DELETE", f"/admin/endpoints/{endpoints[path]}")
            removed[path] = time.time()

        started = time.time()
        post_events(engine.port, events, rate, halfway)
        report["post_seconds"] = round(time.time() - started, 1)
        # Every healthy endpoint gets every event of its tenant (the slow ones get theirs later, at 2 s a call).
        expected = {path: events // TENANTS for path in endpoints if path not in failing and path not in slow and path not in removed}
        deadline = time.time() + 300
        while time.time() < deadline:
            counts = {}
            for call in receivers.log():
                if call["path"] in expected and call["status"] < 300:
                    counts.setdefault(call["path"], set()).add(json.loads(call["body"]).get("id"))
            if all(len(counts.get(p, ())) >= n for p, n in expected.items()):
                break
            time.sleep(3)
        report["seconds_to_deliver"] = round(time.time() - started, 1)
        time.sleep(AUTO_DISABLE + 2)   # the failing endpoints' spans end; their alerts are sent
        received, alerts = receivers.received()
        live = [r for p, items in received.items() if p not in failing and p not in slow for r in items]
        report["endpoints"] = len(endpoints)
        report["deliveries_to_live"] = len(live)
        report["live_behind"] = sorted(p for p, n in expected.items() if len({r[5] for r in received.get(p, [])}) < n)
        report["unverified_live"] = sum(1 for r in live if not r[3])
        report["rotated_deliveries"] = sum(1 for p, (at, _) in rotated.items() for r in received.get(p, []) if r[1] > int(at) + 1)
        report["wrong_tenant"] = sum(1 for items in received.values() for r in items if not r[4])
        latencies = [r[2] for p, items in received.items() if p not in failing and p not in slow and p not in removed for r in items]
        report["live_p50_ms"] = round(percentile(latencies, 0.5), 1)
        report["live_p99_ms"] = round(percentile(latencies, 0.99), 1)
        for path, at in removed.items():
            report["after_removal"] = sum(1 for r in received.get(path, []) if r[1] > int(at) + 1)
        report["rotated_verified"] = all(secret in r[3] for p, (at, secret) in rotated.items() for r in received.get(p, [])
                                         if r[1] > int(at) + 1)
        if bad:
            states = {e["id"]: e for e in engine.admin("GET", "/admin/endpoints")["endpoints"]}
            disabled = []
            for path in failing:
                endpoint = engine.admin("GET", f"/admin/endpoints/{endpoints[path]}")
                history = endpoint["history"]
                first = min(r[0] for r in received.get(path, [(time.time(),)]))
                off = [h for h in history if h["kind"] == "disabled"]
                if off and states[endpoints[path]]["state"] == "disabled":
                    at = time.mktime(time.strptime(off[0]["at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
                    disabled.append(round(at - first, 1))
            report["failing_disabled"] = len(disabled)
            report["seconds_failing_before_disabled_max"] = max(disabled) if disabled else None
            report["endpoint_disabled_alerts"] = sum(1 for a in alerts if a.get("kind") == "endpoint_disabled")
        return report
    finally:
        engine.stop()
        receivers.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=300)
    arguments = parser.parse_args()
    good = run(arguments.bin, os.path.join(arguments.work, "good"), False, arguments.events, arguments.rate)
    print("without bad endpoints:", json.dumps(good))
    bad = run(arguments.bin, os.path.join(arguments.work, "bad"), True, arguments.events, arguments.rate)
    print("with 10 failing and 10 slow endpoints:", json.dumps(bad))
    ratio = bad["live_p99_ms"] / max(good["live_p99_ms"], 1)
    checks = [
        ("every live endpoint got every event of its tenant", not good["live_behind"] and not bad["live_behind"]),
        ("every delivery to a live endpoint verifies (standardwebhooks)", good["unverified_live"] == 0 and bad["unverified_live"] == 0),
        ("no event reached another tenant's endpoint", good["wrong_tenant"] == 0 and bad["wrong_tenant"] == 0),
        ("a rotation mid-run is accepted by receivers knowing either secret", good["rotated_verified"] and bad["rotated_verified"]),
        ("nothing was sent to the removed endpoint after its removal", good["after_removal"] == 0 and bad["after_removal"] == 0),
        (f"live p99 with bad endpoints within 20% of without ({ratio:.2f}x)", ratio <= 1.2),
        ("the 10 failing endpoints were disabled", bad["failing_disabled"] == 10),
        (f"each within its auto_disable_after ({AUTO_DISABLE}s) and its retry's wait",
         bad["seconds_failing_before_disabled_max"] is not None and bad["seconds_failing_before_disabled_max"] <= AUTO_DISABLE + 5),
        ("an endpoint_disabled alert for each", bad["endpoint_disabled_alerts"] == 10),
    ]
    failed = 0
    for label, ok in checks:
        print(("PASS " if ok else "FAIL ") + label)
        failed += 0 if ok else 1
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
