// Cancel and retry, shown only to tokens that may use them (the API refuses them anyway).
import { api, session } from './api.js';
import { h } from './format.js';
import { toast } from './app.js';

const finalStates = new Set(['completed', 'cancelled', 'discarded']);

export function jobActions(job, { compact = false } = {}) {
  const out = [];
  const act = (verb, label, cls) => h('button', {
    type: 'button', class: cls, 'data-action': verb, 'aria-label': `${label} job ${job.id}`,
    onclick: async (e) => {
      e.currentTarget.disabled = true;
      try {
        await api(`/v1/jobs/${job.id}/${verb}`, { method: 'POST' });
        toast(`Job ${job.id}: ${verb === 'cancel' ? 'cancel requested' : 'queued again'}`);
      } catch (err) {
        toast(`Job ${job.id}: ${err.message}`, 'error');
        e.currentTarget.disabled = false;
      }
    },
  }, compact ? label : `${label} job`);
  if (session.can('submit') && !finalStates.has(job.state) && !job.cancelRequested) out.push(act('cancel', 'Cancel', 'danger'));
  if (session.can('admin') && (job.state === 'discarded' || job.state === 'cancelled')) out.push(act('retry', 'Retry', 'quiet'));
  return out;
}
