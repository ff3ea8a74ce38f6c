// Reference outputs of face-api's own code (TF.js, pure-JS CPU backend) for the parity tests of ned_facenet.
// Not used at build or run time: run once by hand, the JSON goes to tests/fixtures/facenet/.
//
// Setup (outside the repository, nothing here is shipped):
//   mkdir /work/npm-d && cd /work/npm-d && npm init -y
//   npm pack @vladmandic/face-api@1.7.15 && tar xzf vladmandic-face-api-1.7.15.tgz && mv package face-api
//   npm install @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 pngjs@7
//   (models/open/fer2013_emotion.json + emotion.bin come from `npm pack @vladmandic/human@3.3.6`, models/)
//     (tfjs-node is NOT needed: it downloads native binaries; the plain package runs on the JS 'cpu' backend)
// Run:
//   node scripts/tfjs_reference.mjs --npm /work/npm-d --models models/open \
//        --out tests/fixtures/facenet/reference.json [--image NAME=FILE.png ...]
// Images are PNG (8-bit RGB) so that pngjs and OpenCV decode identically; besides them the script always
// evaluates the synthetic image `synthetic` (formula below, repeated in tests/unit/facenet/test_facenet.cpp).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = { images: [] };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--npm') opt.npm = args[++i];
  else if (a === '--models') opt.models = args[++i];
  else if (a === '--out') opt.out = args[++i];
  else if (a === '--image') opt.images.push(args[++i]);
  else { console.error(`unknown argument ${a}`); process.exit(2); }
}
if (!opt.npm || !opt.models || !opt.out) {
  console.error('usage: tfjs_reference.mjs --npm DIR --models DIR --out FILE.json [--image NAME=FILE.png ...]');
  process.exit(2);
}
const npm = path.resolve(opt.npm);
const require = createRequire(path.join(npm, 'package.json'));
const { PNG } = require('pngjs');

// face-api's ESM build imports tfjs by deep paths that node's ESM resolver rejects; load a copy whose imports
// name the packages (resolved from <npm>/node_modules). The code itself is face-api's, unchanged.
const src = fs.readFileSync(path.join(npm, 'face-api/dist/face-api.esm-nobundle.js'), 'utf8')
  .replace('"@tensorflow/tfjs/dist/index.js"', '"@tensorflow/tfjs"')
  .replace('"@tensorflow/tfjs-backend-wasm/dist/index.js"', '"@tensorflow/tfjs-backend-wasm"')
  .replace('"@tensorflow/tfjs-backend-webgl/dist/index.js"', '"@tensorflow/tfjs-backend-webgl"');
const modPath = path.join(npm, '.faceapi-node.mjs');
fs.writeFileSync(modPath, src);
const faceapi = await import(pathToFileURL(modPath).href);
const { tf } = faceapi;
await tf.setBackend('cpu');
await tf.ready();

function loadNet(net, name) {
  const manifest = JSON.parse(fs.readFileSync(path.join(opt.models, `${name}-weights_manifest.json`), 'utf8'));
  const specs = []; const buffers = [];
  for (const group of manifest) {
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(opt.models, p)));
    specs.push(...group.weights);
  }
  const all = Buffer.concat(buffers);
  const weightMap = tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.length), specs);
  net.loadFromWeightMap(weightMap);
}
const { nets } = faceapi;
// oarriaga's FER2013 mini-Xception: @vladmandic/human's graph model, run with tfjs-converter (tf.loadGraphModel).
const ferJson = JSON.parse(fs.readFileSync(path.join(opt.models, 'fer2013_emotion.json'), 'utf8'));
const ferBin = fs.readFileSync(path.join(opt.models, ferJson.weightsManifest[0].paths[0]));
const fer = await tf.loadGraphModel(tf.io.fromMemory({
  modelTopology: ferJson.modelTopology, format: ferJson.format, weightSpecs: ferJson.weightsManifest[0].weights,
  weightData: ferBin.buffer.slice(ferBin.byteOffset, ferBin.byteOffset + ferBin.length),
}));
// human's src/gear/emotion.ts preprocessing on a face crop in [0, 1] (human passes its own face crop; here the
// same integer crop as face-api's extractFaceTensors).
function ferPredict(face) {
  return tf.tidy(() => {
    const img = tf.div(tf.expandDims(tf.cast(face, 'float32')), 255);
    const resize = tf.image.resizeBilinear(img, [64, 64], false);
    const grey = tf.sum(tf.mul(resize, tf.tensor1d([0.2989, 0.5870, 0.1140], 'float32')), 3, true);
    const x = tf.mul(tf.sub(grey, tf.scalar(0.5, 'float32')), tf.scalar(2.0, 'float32'));
    return Array.from(fer.execute(x).dataSync());
  });
}
loadNet(nets.ssdMobilenetv1, 'ssd_mobilenetv1_model');
loadNet(nets.faceLandmark68Net, 'face_landmark_68_model');
loadNet(nets.faceRecognitionNet, 'face_recognition_model');
loadNet(nets.faceExpressionNet, 'face_expression_model');

// Synthetic RGB image: value(y, x, c) = (7x + 13y + 50c + (x*y mod 31)) mod 256, plus a bright ellipse.
function synthetic(w, h) {
  const data = new Int32Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    let v = (7 * x + 13 * y + 50 * c + ((x * y) % 31)) % 256;
    const dx = (x - w / 2) / (w / 5); const dy = (y - h / 2) / (h / 3);
    if (dx * dx + dy * dy < 1) v = 200 - 30 * c + ((x + y) % 9);
    data[(y * w + x) * 3 + c] = v;
  }
  return { width: w, height: h, data };
}
function readPng(file) {
  const png = PNG.sync.read(fs.readFileSync(file));
  const data = new Int32Array(png.width * png.height * 3);
  for (let i = 0; i < png.width * png.height; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = png.data[i * 4 + c];
  return { width: png.width, height: png.height, data };
}

const r6 = (v) => Number(v.toPrecision(9));  // float32 round trip needs 9 significant digits
async function evaluate(name, img, fixedBox) {
  const t = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
  const minScore = name === 'synthetic' ? 0.05 : 0.3;
  const dets = await nets.ssdMobilenetv1.locateFaces(t, { minConfidence: minScore, maxResults: 100 });
  const detections = dets.map((d) => ({ score: r6(d.score), box: [d.box.x, d.box.y, d.box.width, d.box.height].map(r6) }));
  // Per-face nets on an integer box (so that face-api's crop (floor of the clipped box) and its landmark shift
  // (the box origin) agree exactly with ned's): the best detection rounded, or the given box.
  let box = fixedBox;
  if (!box && dets.length) box = [dets[0].box.x, dets[0].box.y, dets[0].box.width, dets[0].box.height].map(Math.round);
  const out = { width: img.width, height: img.height, min_score: minScore, detections,
    blazeface: await blazeDetect(t) };
  if (box) {
    const rect = new faceapi.Rect(box[0], box[1], box[2], box[3]);
    const [face] = await faceapi.extractFaceTensors(t, [rect]);
    const lm = await nets.faceLandmark68Net.detectLandmarks(face);
    const desc = await nets.faceRecognitionNet.computeFaceDescriptor(face);
    const expr = await nets.faceExpressionNet.predictExpressions(face);
    out.box = box;
    out.landmarks = lm.positions.map((p) => [r6(p.x + box[0]), r6(p.y + box[1])]);
    out.descriptor = Array.from(desc).map(r6);
    out.expressions = faceapi.FACE_EXPRESSION_LABELS.map((k) => r6(expr[k]));
    out.fer2013 = ferPredict(face).map(r6);
    face.dispose();
  }
  t.dispose();
  return out;
}

// Raw outputs of the other graph models shipped for the interpreter (@vladmandic/human 3.3.6): BlazeFace
// (256x256 RGB in [-1, 1]) and FaceMesh (192x192 RGB in [0, 1]) on the synthetic pattern v(y, x, c) below;
// every `stride`-th value of each output is kept.
async function rawGraph(file, size, scale, offset, stride) {
  const j = JSON.parse(fs.readFileSync(path.join(opt.models, file), 'utf8'));
  const specs = j.weightsManifest.flatMap((g) => g.weights);
  const bin = Buffer.concat(j.weightsManifest.flatMap((g) => g.paths).map((p) => fs.readFileSync(path.join(opt.models, p))));
  const model = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: j.modelTopology, format: j.format,
    weightSpecs: specs, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length) }));
  const data = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) {
    data[(y * size + x) * 3 + c] = ((7 * x + 13 * y + 50 * c + ((x * y) % 31)) % 256) * scale + offset;
  }
  const input = tf.tensor4d(data, [1, size, size, 3]);
  const names = model.outputs.map((o) => o.name);
  const outs = model.execute(input, names);
  const res = { input_size: size, scale, offset, stride, outputs: {} };
  (Array.isArray(outs) ? outs : [outs]).forEach((t, i) => {
    const v = Array.from(t.dataSync());
    res.outputs[names[i].replace(/:0$/, '')] = { shape: t.shape, values: v.filter((_, k) => k % stride === 0).map(r6) };
  });
  return res;
}

// BlazeFace as human's src/face/blazeface.ts getBoxes (detector.square = false): the frame stretched to 256x256,
// / 127.5 - 1, outputs concatenated [512 | 384] x [logit | 16 regressors], boxes decoded against
// generateAnchors(256), sigmoid scores, tf.image.nonMaxSuppression(100, IoU 0.3, score 0.5), scaled back.
const blazeJson = JSON.parse(fs.readFileSync(path.join(opt.models, 'blazeface.json'), 'utf8'));
const blazeBin = fs.readFileSync(path.join(opt.models, 'blazeface.bin'));
const blaze = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: blazeJson.modelTopology,
  format: blazeJson.format, weightSpecs: blazeJson.weightsManifest[0].weights,
  weightData: blazeBin.buffer.slice(blazeBin.byteOffset, blazeBin.byteOffset + blazeBin.length) }));
const blazeAnchors = [];
for (const [stride, n] of [[16, 2], [32, 6]]) {
  const grid = Math.floor((256 + stride - 1) / stride);
  for (let gy = 0; gy < grid; gy++) for (let gx = 0; gx < grid; gx++) {
    for (let k = 0; k < n; k++) blazeAnchors.push([stride * (gx + 0.5), stride * (gy + 0.5)]);
  }
}
async function blazeDetect(t) {
  const [H, W] = t.shape;
  const r = tf.tidy(() => {
    const resized = tf.image.resizeBilinear(tf.expandDims(tf.cast(t, 'float32')), [256, 256]);
    const x = tf.sub(tf.div(resized, tf.scalar(127.5, 'float32')), tf.scalar(1.0, 'float32'));
    const res = blaze.execute(x);
    const sorted = res.sort((a, b) => a.size - b.size);
    const batch = tf.squeeze(tf.concat([tf.concat([sorted[1], sorted[3]], 2), tf.concat([sorted[0], sorted[2]], 2)], 1), [0]);
    const anchors = tf.tensor2d(blazeAnchors);
    const size = tf.scalar(256, 'int32');
    const centers = tf.add(tf.slice(batch, [0, 1], [-1, 2]), anchors);
    const half = tf.div(tf.div(tf.slice(batch, [0, 3], [-1, 2]), size), tf.scalar(2.0, 'float32'));
    const starts = tf.mul(tf.sub(tf.div(centers, size), half), size);
    const ends = tf.mul(tf.add(tf.div(centers, size), half), size);
    const boxes = tf.concat2d([starts, ends], 1);
    const scores = tf.squeeze(tf.sigmoid(tf.slice(batch, [0, 0], [-1, 1])));
    return { boxes, scores };
  });
  const nms = await tf.image.nonMaxSuppressionAsync(r.boxes, r.scores, 100, 0.3, 0.5);
  const idx = await nms.array(); const b = await r.boxes.array(); const s = await r.scores.data();
  const fx = W / 256; const fy = H / 256;
  const out = idx.map((i) => ({ score: r6(s[i]),
    box: [b[i][0] * fx, b[i][1] * fy, (b[i][2] - b[i][0]) * fx, (b[i][3] - b[i][1]) * fy].map(r6) }));
  tf.dispose([r.boxes, r.scores, nms]);
  return out;
}

const result = {
  generator: 'scripts/tfjs_reference.mjs',
  face_api: JSON.parse(fs.readFileSync(path.join(npm, 'face-api/package.json'), 'utf8')).version,
  tfjs: tf.version_core,
  backend: tf.getBackend(),
  images: {},
};
result.images.synthetic = await evaluate('synthetic', synthetic(320, 240), [96, 60, 128, 120]);
result.graphs = {
  blazeface: await rawGraph('blazeface.json', 256, 1 / 127.5, -1, 13),
  facemesh: await rawGraph('facemesh.json', 192, 1 / 255, 0, 7),
};
for (const spec of opt.images) {
  const [name, file] = spec.split('=');
  result.images[name] = await evaluate(name, readPng(file));
  result.images[name].file = path.basename(file);
}
fs.writeFileSync(opt.out, JSON.stringify(result, null, 1) + '\n');
console.error(`wrote ${opt.out}: ${Object.keys(result.images).join(', ')}`);
