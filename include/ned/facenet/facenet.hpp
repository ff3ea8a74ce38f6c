#pragma once
// ned::facenet: the open face models shipped with ned (models/open/, installed to share/ned/open), run with
// hand-written LibTorch modules that load face-api's TF.js weights manifests (float32 / float16 / uint8-affine),
// or with a small interpreter for TF.js graph models. One header per model; this one includes them all.
//   SsdFaceDetector    face-api SSD-MobileNetV1 face detector (ssd_face_detector.hpp)
//   BlazeFaceDetector  MediaPipe BlazeFace, TF.js graph model from @vladmandic/human (blazeface.hpp)
//   FaceMesh           MediaPipe FaceMesh, 468 points, TF.js graph model from @vladmandic/human (facemesh.hpp)
//   Landmarks68        face-api face_landmark_68 net, iBUG 68-point order (= dlib) (landmarks68.hpp)
//   FaceDescriptor     face-api face_recognition net (port of dlib's ResNet-29 descriptor), 128-d, L2 distance
//                      (face_descriptor.hpp)
//   ExpressionNet      face-api face_expression net, 7 classes (expression_net.hpp)
//   EmotionFer2013     oarriaga's FER2013 mini-Xception, TF.js graph model from @vladmandic/human, 7 classes
//                      (emotion_fer2013.hpp)
// The detectors return FaceBox (face_box.hpp); open_models_dir() finds the models (open_models.hpp). Graph models
// run through TfjsGraph (tfjs_graph.hpp), weights are read by load_tfjs_weights (tfjs_weights.hpp); the TF ops the
// models share (bilinear resize, NMS, 'SAME' padding) are src/facenet/tf_ops.hpp. Provenance, licences, crop
// rules: docs/models.md sec. 8.
// All classes are thread-compatible (const methods may run concurrently on distinct inputs), CPU, float32; the
// models' copies share their (immutable) weights.
// Images are 8-bit BGR (CV_8UC3) as OpenCV reads them; boxes are in image pixels (x, y, width, height).
// Constructors throw ned::ModelError (exit code 3) naming the file when a manifest/shard is missing or invalid.
#include "ned/facenet/blazeface.hpp"
#include "ned/facenet/emotion_fer2013.hpp"
#include "ned/facenet/expression_net.hpp"
#include "ned/facenet/face_box.hpp"
#include "ned/facenet/face_descriptor.hpp"
#include "ned/facenet/facemesh.hpp"
#include "ned/facenet/landmarks68.hpp"
#include "ned/facenet/open_models.hpp"
#include "ned/facenet/ssd_face_detector.hpp"
