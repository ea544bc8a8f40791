// The live job feed: one EventSource on /v1/jobs/live ("snapshot", then "job" on every change,
// pushed by the coordinator from PostgreSQL notifications; no polling). EventSource reconnects
// by itself and the coordinator starts each connection with a fresh snapshot.

export function openFeed({ onSnapshot, onJob, onState }) {
  const es = new EventSource('/v1/jobs/live');
  es.addEventListener('snapshot', (e) => onSnapshot(JSON.parse(e.data).jobs));
  es.addEventListener('job', (e) => onJob(JSON.parse(e.data)));
  es.onopen = () => onState?.('live');
  es.onerror = () => onState?.(es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  return () => es.close();
}
