/**
 * The overview's schedules (recurring jobs, docs/schedules.md): each with its cron or interval, the
 * job it makes, its next and last tick and the last job it made, and "Run now" (POST
 * /v1/schedules/{name}/trigger: a job now, the ticks unchanged). Read with the overview, not live:
 * a schedule changes when someone saves it, not with every job.
 */
import type { ScheduleListWire } from '../../../src/client.ts';
import { api, useData } from '../api.ts';
import { Badge, ErrorBox, JobId, Loading, Section, Time } from '../components/bits.tsx';
import { useConfirm } from '../components/Confirm.tsx';
import { jobUrl, navigate } from '../router.ts';

/** Schedules shown at most; more are listed by GET /v1/schedules (and `jobq schedules list`). */
const SHOWN = 200;

export function SchedulesPanel() {
  const list = useData<ScheduleListWire>((c) => c.listSchedulesPage({ limit: SHOWN }), []);
  const { dialog, ask } = useConfirm();
  const schedules = list.data?.schedules ?? [];
  const run = (name: string) =>
    ask(`Run schedule ${name} now? It enqueues its job at once; its ticks stay as they are.`, `Run ${name} now`, async () => {
      const job = await api().triggerSchedule(name);
      navigate(jobUrl(job.id));
    });
  return (
    <Section title="Schedules" id="schedules">
      {dialog}
      {list.error ? <ErrorBox error={list.error} what="Could not read the schedules" /> : null}
      {!list.data && !list.error ? <Loading what="Loading schedules" /> : null}
      {list.data && schedules.length === 0 ? <p class="muted">No schedule. See docs/schedules.md to add one.</p> : null}
      {schedules.length > 0 ? (
        <div class="scroll">
          <table class="schedules">
            <caption class="visually-hidden">Schedules, when they fire and what they make</caption>
            <thead>
              <tr>
                <th scope="col">Schedule</th><th scope="col">When</th><th scope="col">Job</th><th scope="col">Next tick</th>
                <th scope="col">Last tick</th><th scope="col">Last job</th><th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {schedules.map((s) => (
                <tr data-schedule={s.name}>
                  <th scope="row"><code>{s.name}</code></th>
                  <td>{s.cron !== null ? <code>{s.cron}</code> : `every ${s.every}`} <span class="muted">{s.timezone}</span></td>
                  <td>{s.job.kind} <span class="muted">on {s.job.queue}</span></td>
                  <td><Time at={s.next_fire_at} /></td>
                  <td><Time at={s.last_fire_at} rel /></td>
                  <td>{s.last_job ? <><JobId id={s.last_job.id} /> {s.last_job.status ? <Badge status={s.last_job.status} /> : <span class="muted">deleted</span>}</> : <span class="muted">—</span>}</td>
                  <td class="state">
                    {s.enabled ? <span class="badge s-active">enabled</span> : <span class="badge s-paused">disabled</span>}
                    <button type="button" onClick={() => run(s.name)}>Run now</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.data?.next_cursor ? <p class="muted">The first {SHOWN} schedules, by name; GET /v1/schedules lists them all.</p> : null}
        </div>
      ) : null}
    </Section>
  );
}
