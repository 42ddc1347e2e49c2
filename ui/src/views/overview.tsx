/**
 * /ui/ — every queue (those with counts in stats.by_queue and those listQueues knows: a policy, a pause)
 * with its waiting, running, retrying, failed and succeeded counts, per-minute throughput, the oldest
 * waiting job's age and its paused state with Pause/Resume; the fleet: workers alive, slots busy; and
 * the schedules (schedules.tsx).
 */
import type { QueueWire, StatsWire } from '../../../src/client.ts';
import { api, useData, type WorkerWire } from '../api.ts';
import { ThroughputChart } from '../components/Chart.tsx';
import { ErrorBox, Loading, Section, Time, useTitle } from '../components/bits.tsx';
import { useConfirm } from '../components/Confirm.tsx';
import { count, duration } from '../format.ts';
import { LiveNote, useLive } from '../live.tsx';
import { jobsUrl } from '../router.ts';
import { SchedulesPanel } from './schedules.tsx';

const MINUTES = 30;
type Counts = StatsWire['by_status'];
const ZERO: Counts = { waiting: 0, queued: 0, running: 0, retrying: 0, succeeded: 0, failed_permanent: 0, cancelled: 0 };

async function loadQueues(): Promise<{ stats: StatsWire; queues: Map<string, QueueWire> }> {
  const c = api();
  const [stats, list] = await Promise.all([
    c.stats(),
    (async () => {
      const all: QueueWire[] = [];
      for await (const q of c.listQueues({ limit: 1000 })) all.push(q);
      return all;
    })(),
  ]);
  return { stats, queues: new Map(list.map((q) => [q.name, q])) };
}

function CountLink({ n, queue, status }: { n: number; queue: string; status: string }) {
  return n === 0 ? <span class="muted">0</span> : <a href={jobsUrl({ queue, status })}>{count(n)}</a>;
}

function Fleet({ workers }: { workers: WorkerWire[] }) {
  const alive = workers.filter((w) => w.alive);
  const busy = alive.reduce((n, w) => n + w.running, 0);
  const slots = alive.reduce((n, w) => n + (w.concurrency ?? 0), 0);
  return (
    <>
      <dl class="figures">
        <div><dt>Workers alive</dt><dd data-testid="workers-alive">{count(alive.length)}</dd></div>
        <div><dt>Slots busy</dt><dd data-testid="slots-busy">{count(busy)} / {count(slots)}</dd></div>
        <div><dt>Stopped in the last hour</dt><dd>{count(workers.length - alive.length)}</dd></div>
      </dl>
      {workers.length === 0 ? <p class="muted">No worker seen in the last hour.</p> : (
        <div class="scroll">
          <table>
            <caption class="visually-hidden">Workers</caption>
            <thead><tr><th scope="col">Worker</th><th scope="col">State</th><th scope="col">Queues</th><th scope="col">Running / slots</th><th scope="col">Started</th><th scope="col">Last seen</th></tr></thead>
            <tbody>
              {workers.map((w) => (
                <tr>
                  <th scope="row"><code>{w.id}</code></th>
                  <td>{w.alive ? <span class="badge s-running">alive</span> : <span class="badge s-cancelled">stopped</span>}</td>
                  <td>{w.queues === null ? <span class="muted">all</span> : w.queues.join(', ')}</td>
                  <td class="num">{count(w.running)} / {w.concurrency === null ? '—' : count(w.concurrency)}</td>
                  <td><Time at={w.started_at} rel /></td>
                  <td><Time at={w.last_seen_at} rel /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

export function OverviewView() {
  useTitle('Overview');
  const queues = useData(loadQueues, []);
  const tp = useData((c) => c.throughput(MINUTES), []);
  const fleet = useData((c) => c.workers(), []);
  const reload = () => {
    queues.reload();
    tp.reload();
    fleet.reload();
  };
  const live = useLive({}, reload);
  const { dialog, ask } = useConfirm();

  const stats = queues.data?.stats;
  const names = [...new Set([...Object.keys(stats?.by_queue ?? {}), ...(queues.data?.queues.keys() ?? [])])].sort();
  const total = stats?.by_status ?? ZERO;
  return (
    <>
      <h1>Overview</h1>
      <LiveNote live={live} />
      {dialog}
      <dl class="figures" aria-label="All queues">
        <div><dt>Waiting</dt><dd>{count(total.queued + total.waiting)}</dd></div>
        <div><dt>Running</dt><dd>{count(total.running)}</dd></div>
        <div><dt>Retrying</dt><dd>{count(total.retrying)}</dd></div>
        <div><dt>Failed</dt><dd>{count(total.failed_permanent)}</dd></div>
        <div><dt>Succeeded</dt><dd>{count(total.succeeded)}</dd></div>
      </dl>
      <Section title="Queues" id="queues">
        {queues.error ? <ErrorBox error={queues.error} what="Could not read the queues" /> : null}
        {tp.error ? <ErrorBox error={tp.error} what="Could not read the throughput" /> : null}
        {!queues.data && !queues.error ? <Loading what="Loading queues" /> : null}
        {queues.data && names.length === 0 ? <p class="muted">No queue has jobs or a policy yet.</p> : null}
        {names.length > 0 ? (
          <div class="scroll">
            <table class="queues">
              <caption class="visually-hidden">Queues, their jobs per status, throughput and state</caption>
              <thead>
                <tr>
                  <th scope="col">Queue</th><th scope="col" class="num">Waiting</th><th scope="col" class="num">Running</th>
                  <th scope="col" class="num">Retrying</th><th scope="col" class="num">Failed</th><th scope="col" class="num">Succeeded</th>
                  <th scope="col">Per minute, last {MINUTES} min</th><th scope="col">Oldest waiting</th><th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {names.map((name) => {
                  const c = stats?.by_queue[name] ?? ZERO;
                  const q = queues.data?.queues.get(name);
                  const age = q?.oldest_waiting_age_seconds ?? 0;
                  return (
                    <tr data-queue={name}>
                      <th scope="row"><a href={jobsUrl({ queue: name })}>{name}</a></th>
                      <td class="num" title={`${count(c.queued)} queued, ${count(c.waiting)} waiting for parents`}>{count(c.queued + c.waiting)}</td>
                      <td class="num"><CountLink n={c.running} queue={name} status="running" /></td>
                      <td class="num"><CountLink n={c.retrying} queue={name} status="retrying" /></td>
                      <td class="num"><CountLink n={c.failed_permanent} queue={name} status="failed_permanent" /></td>
                      <td class="num"><CountLink n={c.succeeded} queue={name} status="succeeded" /></td>
                      <td>{tp.data ? <ThroughputChart series={tp.data.queues[name]} minutes={tp.data.minutes} label={`Queue ${name}`} /> : <span class="muted">—</span>}</td>
                      <td>{age > 0 ? duration(age * 1000) : <span class="muted">—</span>}</td>
                      <td class="state">
                        {q?.paused ? <span class="badge s-paused">paused</span> : <span class="badge s-active">active</span>}
                        {q?.paused ? (
                          <button type="button" onClick={() => ask(`Resume queue ${name}? Its jobs start again.`, `Resume ${name}`, async () => { await api().resumeQueue(name); queues.reload(); })}>Resume</button>
                        ) : (
                          <button type="button" onClick={() => ask(`Pause queue ${name}? Running jobs finish; no new job of it starts until it is resumed.`, `Pause ${name}`, async () => { await api().pauseQueue(name); queues.reload(); })}>Pause</button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        ) : null}
      </Section>
      <Section title="Fleet" id="fleet">
        {fleet.error ? <ErrorBox error={fleet.error} what="Could not read the workers" /> : null}
        {fleet.data ? <Fleet workers={fleet.data.workers} /> : !fleet.error ? <Loading what="Loading workers" /> : null}
      </Section>
      <SchedulesPanel />
    </>
  );
}
