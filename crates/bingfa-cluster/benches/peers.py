"""The Python peers of benches/peers.sh: Celery (Redis broker and result
backend), RQ and Dask LocalCluster, each with one client and 2 workers on
this machine, measured the same way as bingfa-cluster: trivial tasks per
second (submit N, wait for all), then single-task round trips (p50, p99).

usage: peers.py REDIS_URL TASKS ROUND_TRIPS WORKDIR
Prints `name<TAB>tasks/s<TAB>p50 us<TAB>p99 us` per peer.
"""

import os
import subprocess
import sys
import time

URL, TASKS, RTS, WORK = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sys.path.insert(0, WORK)

TASKS_PY = f'''
from celery import Celery
app = Celery("bench_tasks", broker={URL!r}, backend={URL!r})
app.conf.task_acks_late = True
app.conf.worker_prefetch_multiplier = 1
app.conf.result_expires = 600

@app.task(name="noop")
def noop(x):
    return x

def rq_noop(x):
    return x
'''


def pct(lat, p):
    lat = sorted(lat)
    return lat[round((len(lat) - 1) * p)] * 1e6


def report(name, rate, lat):
    print(f"{name}\t{rate:.0f}\t{pct(lat, 0.5):.0f}\t{pct(lat, 0.99):.0f}", flush=True)


def wait_workers(procs, check, what):
    deadline = time.time() + 60
    while time.time() < deadline:
        if check():
            return
        for p in procs:
            if p.poll() is not None:
                raise SystemExit(f"{what} worker exited: {p.returncode}")
        time.sleep(0.2)
    raise SystemExit(f"{what} workers did not start")


def stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def celery():
    import bench_tasks
    env = dict(os.environ, PYTHONPATH=WORK)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bench_tasks", "worker", "-c", "1",
             "-P", "prefork", "-n", f"w{i}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "-l", "WARNING"],
            cwd=WORK, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i in range(2)
    ]
    try:
        wait_workers(procs, lambda: len(bench_tasks.app.control.ping(timeout=0.5) or []) >= 2, "celery")
        for r in [bench_tasks.noop.delay(i) for i in range(100)]:
            r.get(timeout=60)
        t = time.perf_counter()
        rs = [bench_tasks.noop.delay(i) for i in range(TASKS)]
        for i, r in enumerate(rs):
            assert r.get(timeout=300) == i
        rate = TASKS / (time.perf_counter() - t)
        lat = []
        for i in range(RTS):
            t = time.perf_counter()
            assert bench_tasks.noop.delay(i).get(timeout=60) == i
            lat.append(time.perf_counter() - t)
        report("Celery (Redis broker + backend, acks_late), 2 workers x 1 process", rate, lat)
    finally:
        stop(procs)


def rq():
    import bench_tasks
    from redis import Redis
    from rq import Queue
    from rq.job import Job
    conn = Redis.from_url(URL)
    q = Queue("bench", connection=conn)
    env = dict(os.environ, PYTHONPATH=WORK)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rq.cli", "worker", "-u", URL, "bench", "-q"],
            cwd=WORK, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    try:
        from rq import Worker
        wait_workers(procs, lambda: len(Worker.all(connection=conn)) >= 2, "rq")

        def wait_all(jobs):
            pending = {j.id for j in jobs}
            while pending:
                for j in Job.fetch_many(list(pending), connection=conn):
                    if j is not None and j.is_finished:
                        pending.discard(j.id)
                    elif j is not None and j.is_failed:
                        raise SystemExit("an RQ job failed")
                if pending:
                    time.sleep(0.005)

        wait_all([q.enqueue(bench_tasks.rq_noop, i) for i in range(20)])
        n = max(1, TASKS // 10)  # RQ forks a process per job: fewer tasks
        t = time.perf_counter()
        wait_all([q.enqueue(bench_tasks.rq_noop, i) for i in range(n)])
        rate = n / (time.perf_counter() - t)
        lat = []
        for i in range(max(10, RTS // 10)):
            t = time.perf_counter()
            job = q.enqueue(bench_tasks.rq_noop, i)
            res = job.latest_result(timeout=60)
            assert res is not None and res.return_value == i
            lat.append(time.perf_counter() - t)
        report(f"RQ (2 workers, a fork per job; {n} tasks)", rate, lat)
    finally:
        stop(procs)


def dask():
    from dask.distributed import Client, LocalCluster

    def noop(x):
        return x

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.gather(client.map(noop, range(100), pure=False))
        t = time.perf_counter()
        out = client.gather(client.map(noop, range(TASKS), pure=False))
        assert out == list(range(TASKS))
        rate = TASKS / (time.perf_counter() - t)
        lat = []
        for i in range(RTS):
            t = time.perf_counter()
            assert client.submit(noop, i, pure=False).result() == i
            lat.append(time.perf_counter() - t)
        report("Dask distributed LocalCluster, 2 worker processes x 1 thread", rate, lat)


if __name__ == "__main__":
    with open(os.path.join(WORK, "bench_tasks.py"), "w") as f:
        f.write(TASKS_PY)
    for peer in sys.argv[5:] or ["celery", "rq", "dask"]:
        try:
            globals()[peer]()
        except Exception as e:  # one peer failing does not hide the others
            print(f"{peer}\tfailed: {e!r}", flush=True)
