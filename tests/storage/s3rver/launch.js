#!/usr/bin/env node
// A real S3 server on loopback for Kiln's S3 client tests.
//
//   node --openssl-legacy-provider launch.js --dir DIR --port-file FILE [--port N] [--bucket NAME]...
//        [--notify-config FILE]
//
// Listens on 127.0.0.1 (port N, or a free one when 0 or absent), stores objects under DIR,
// creates each --bucket, and writes the port it got to FILE (written whole by a rename, so a
// poller never reads half a number). Runs until killed. Credentials: S3RVER / S3RVER, the only
// account s3rver has.
//
// Event notifications: s3rver has no PutBucketNotificationConfiguration (NotImplemented) and
// posts nothing by itself, but it emits each object event in-process ('event', with the body
// AWS would send). With --notify-config, each one is POSTed, as MinIO's webhook target does, to
// the `url` in FILE ({"url": "...", "headers": {"Authorization": "Bearer ..."}}), which is read
// again for every event (a test writes it once the receiver is up, or changes it); no FILE: no
// post. One try per event, the outcome logged to stdout ("notify 200 ObjectCreated:Put key").
//
// Every bucket gets the CORS rules a bucket that players and the console read from needs (any
// origin may GET and HEAD, and PUT parts to presigned URLs; ETag exposed for multipart), so a
// page on another origin plays a ladder straight from the bucket, as it would from AWS.
//
// Why @20minutes/s3rver 4.0.4 and not s3rver 3.7.1: 3.7.1 (the last release of jamhall/s3rver)
// does not check SigV4 signatures at all ("Signature version 4 calculation is unimplemented"
// in its authentication middleware): a wrong secret passes, so it could not prove Kiln signs
// correctly. Upstream's master implements SigV4 checking (header and presigned) but was never
// released; the @20minutes fork releases that code, and this version still runs on Node 20.
//
// Its differences from AWS S3, as they touch Kiln's tests (each test names the ones it meets):
// - Unsigned requests are let through (no Authorization, no X-Amz-Signature): only a signed
//   request is checked, so the wrong-secret test is what proves signing.
// - AbortMultipartUpload (DELETE ?uploadId) is not implemented (405 MethodNotAllowed) and
//   ListMultipartUploads (GET ?uploads) is NotImplemented. This launcher adds the abort below,
//   after s3rver's own authentication has checked the request's signature. Uploads in progress
//   live in DIR/BUCKET/._S3rver_uploads/UPLOAD_ID/, which a test can look at.
// - Parts smaller than 5 MiB are accepted (AWS refuses them with EntityTooSmall, but the last).
// - x-amz-content-sha256 is not checked against the body; Content-MD5 is not checked either.
// - A multipart object's ETag is the MD5 of the whole object, not AWS's MD5-of-MD5s "-N".
// - The canonical query encodes values with encodeURIComponent, which leaves !'()* alone where
//   SigV4 encodes them: a query value holding those would fail to verify here but not on AWS.
// - Virtual-host requests are signed as if path-style (/BUCKET/KEY), and only hosts matching
//   BUCKET.s3.<service endpoint> are taken as virtual hosts: tests use path-style addressing.
// - Events: a completed multipart upload is reported as ObjectCreated:Post, not
//   ObjectCreated:CompleteMultipartUpload, and event keys are not URL-encoded as AWS's are.
// - Keys in listings are XML-escaped twice ('&' arrives as "&amp;amp;"), where AWS escapes once.
// - ListObjectsV2 continuation tokens are DES-encrypted; with OpenSSL 3 (Node 17 and later) DES
//   needs node's --openssl-legacy-provider, else every truncated listing is a 500 InternalError.
// - RequestTimeTooSkewed after 15 minutes of skew, as AWS; presigned URLs ignore skew, as AWS.
// - Not crash-consistent: a server killed in the middle of a PUT leaves the object's file partly
//   written and without its metadata (then listed and served, truncated), or its metadata file
//   empty (then every ListObjects that reaches it answers 500 InternalError). AWS never shows an
//   object whose PUT did not complete, so this launcher, which the tests also use to restart a
//   killed server, removes such leftovers at start.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const S3rver = require('@20minutes/s3rver');
const router = require('@20minutes/s3rver/lib/routes');
const S3Error = require('@20minutes/s3rver/lib/models/error');

function parseArgs(argv) {
  const args = { port: 0, buckets: [] };
  for (let i = 2; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--dir': args.dir = value; i++; break;
      case '--port': args.port = Number(value); i++; break;
      case '--port-file': args.portFile = value; i++; break;
      case '--bucket': args.buckets.push(value); i++; break;
      case '--notify-config': args.notifyConfig = value; i++; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!args.dir || !args.portFile) throw new Error('usage: launch.js --dir DIR --port-file FILE [--port N] [--bucket NAME]...');
  return args;
}

// AbortMultipartUpload: placed just before s3rver's own DELETE route for objects, so it runs
// after the authentication middleware and before the route that answers 405.
function addAbortMultipartUpload() {
  router.delete('/:bucket/:key+', async (ctx, next) => {
    if (!('uploadId' in ctx.query)) return next();
    const id = ctx.query.uploadId;
    if (!/^[0-9a-f]+$/.test(id)) throw new S3Error('NoSuchUpload', 'The specified upload does not exist.');
    const dir = path.join(ctx.store.getResourcePath(ctx.params.bucket, undefined, 'uploads'), id);
    if (!fs.existsSync(dir)) throw new S3Error('NoSuchUpload', 'The specified upload does not exist.');
    await fs.promises.rm(dir, { recursive: true, force: true });
    ctx.status = 204;
  });
  const shim = router.stack.pop();
  const original = router.stack.findIndex(
    (layer) => layer.path === '/:bucket/:key+' && layer.methods.includes('DELETE'));
  if (original < 0) throw new Error('s3rver changed: no DELETE route for objects to put the abort shim before');
  router.stack.splice(original, 0, shim);
}

// The files of objects whose PUT a kill cut short (see above): an object file whose metadata
// file is missing or is not JSON. Multipart uploads in progress are left alone.
function removeIncompleteObjects(dir) {
  const objectSuffix = '._S3rver_object';
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== '._S3rver_uploads') removeIncompleteObjects(file);
      continue;
    }
    if (!entry.name.endsWith(objectSuffix)) continue;
    const base = file.slice(0, -objectSuffix.length);
    let complete = true;
    try {
      JSON.parse(fs.readFileSync(`${base}._S3rver_metadata.json`, 'utf8'));
    } catch (err) {
      complete = false;
    }
    if (complete) continue;
    for (const suffix of [objectSuffix, `${objectSuffix}.md5`, '._S3rver_metadata.json']) {
      fs.rmSync(`${base}${suffix}`, { force: true });
    }
    console.error(`removed ${base}: its PUT never completed (the server was killed)`);
  }
}

// POSTs one event body to the configured receiver.
function notify(configFile, event) {
  let config;
  try {
    config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  } catch (err) {
    return;  // not configured (yet)
  }
  const body = JSON.stringify(event);
  const record = event.Records[0];
  const what = `${record.eventName} ${record.s3.object.key}`;
  const req = http.request(config.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...(config.headers || {}) },
  }, (res) => {
    res.resume();
    console.log(`notify ${res.statusCode} ${what}`);
  });
  req.on('error', (err) => console.log(`notify failed ${what}: ${err.message}`));
  req.end(body);
}

const CORS = Buffer.from(`<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>HEAD</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
</CORSConfiguration>`);

async function main() {
  const args = parseArgs(process.argv);
  addAbortMultipartUpload();
  fs.mkdirSync(args.dir, { recursive: true });
  removeIncompleteObjects(args.dir);
  const server = new S3rver({
    address: '127.0.0.1',
    port: args.port,
    silent: true,
    directory: args.dir,
    configureBuckets: args.buckets.map((name) => ({ name, configs: [CORS] })),
  });
  if (args.notifyConfig) server.on('event', (event) => notify(args.notifyConfig, event));
  const { port } = await server.run();
  fs.writeFileSync(`${args.portFile}.tmp`, `${port}\n`);
  fs.renameSync(`${args.portFile}.tmp`, args.portFile);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
