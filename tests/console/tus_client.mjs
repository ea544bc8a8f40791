// Kiln's tus server against the tus-js-client package under Node: an upload, an upload cut
// mid-body (the client's request aborted) and resumed from the server's offset, and
// termination. Each finished upload must have become one job.
//
//   node tus_client.mjs --base http://127.0.0.1:PORT --token TOKEN --file console_10s.mp4
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import * as tus from 'tus-js-client';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) =>
  a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc, []));
const file = readFileSync(args.file);
const headers = { Authorization: `Bearer ${args.token}` };
const chunkSize = 256 * 1024;

function options(extra = {}) {
  return {
    endpoint: `${args.base}/v1/uploads`, headers, chunkSize, retryDelays: [0, 200, 500, 1000],
    metadata: { filename: basename(args.file), filetype: 'video/mp4', ladder: '240p' },
    removeFingerprintOnSuccess: true, ...extra,
  };
}

async function uploadInfo(url) {
  const res = await fetch(url, { headers: { ...headers, 'Tus-Resumable': '1.0.0' } });
  return { status: res.status, body: res.status === 200 ? await res.json() : null };
}

let passed = 0, failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.error(`FAIL ${name}: ${e.stack || e.message}`);
  }
}
function expect(cond, what) { if (!cond) throw new Error(what); }

await check('an upload in chunks becomes one job', async () => {
  const upload = new tus.Upload(file, options());
  await new Promise((resolve, reject) => {
    upload.options.onSuccess = resolve;
    upload.options.onError = reject;
    upload.start();
  });
  const info = await uploadInfo(upload.url);
  expect(info.status === 200, `GET ${upload.url}: ${info.status}`);
  expect(info.body.state === 'done' && info.body.offset === file.length, JSON.stringify(info.body));
  expect(Number.isInteger(info.body.jobId), 'no job');
});

await check('an interrupted upload resumes from the server\'s offset', async () => {
  const first = new tus.Upload(file, options());
  await new Promise((resolve, reject) => {
    first.options.onError = reject;
    first.options.onProgress = (sent) => {
      // Past a third of the file, abort: the request in flight is cut (Node's stack reports
      // progress per chunk, so where in the next chunk it stops is up to the sockets).
      if (sent > file.length / 3) {
        first.options.onProgress = null;
        first.abort().then(resolve, reject);
      }
    };
    first.options.onSuccess = () => reject(new Error('finished before it could be cut'));
    first.start();
  });
  const url = first.url;
  const mid = await uploadInfo(url);
  expect(mid.status === 200 && mid.body.state === 'receiving', JSON.stringify(mid.body));
  const kept = mid.body.offset;
  expect(kept > 0 && kept < file.length, `kept ${kept} of ${file.length}`);
  let firstOffset = null;
  const second = new tus.Upload(file, options({
    uploadUrl: url,
    onProgress: (sent) => { if (firstOffset === null) firstOffset = sent; },
  }));
  await new Promise((resolve, reject) => {
    second.options.onSuccess = resolve;
    second.options.onError = reject;
    second.start();
  });
  expect(second.url === url, `resumed into ${second.url}, not ${url}`);
  expect(firstOffset >= kept, `the resumed upload started at ${firstOffset}, the server had ${kept}`);
  const done = await uploadInfo(url);
  expect(done.body.state === 'done' && done.body.offset === file.length && Number.isInteger(done.body.jobId), JSON.stringify(done.body));
});

await check('termination deletes the upload', async () => {
  const upload = new tus.Upload(file, options());
  await new Promise((resolve, reject) => {
    upload.options.onError = reject;
    upload.options.onProgress = (sent) => {
      if (sent >= chunkSize) { upload.options.onProgress = null; upload.abort().then(resolve, reject); }
    };
    upload.start();
  });
  const url = upload.url;
  expect((await uploadInfo(url)).status === 200, 'the upload exists before');
  await tus.Upload.terminate(url, options());
  const after = await uploadInfo(url);
  expect(after.status === 404, `after termination: ${after.status}`);
});

await check('every finished upload made exactly one job', async () => {
  const res = await fetch(`${args.base}/v1/jobs?limit=500`, { headers });
  const jobs = (await res.json()).jobs.filter((j) => j.spec?.metadata?.uploadId);
  const ids = jobs.map((j) => j.spec.metadata.uploadId);
  expect(jobs.length === 2, `${jobs.length} upload jobs, want 2`);
  expect(new Set(ids).size === ids.length, 'two jobs for one upload');
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
