#include "ned/recon/reconstruct.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <sstream>

#include "ned/core/error.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/output_dir.hpp"
#include "ned/core/log.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/face/crop.hpp"
#include "ned/face/face_track.hpp"
#include "ned/io/video.hpp"
#include "ned/recon/deca.hpp"
#include "ned/recon/deca_image.hpp"
#include "ned/recon/flame.hpp"

namespace fs = std::filesystem;

namespace ned::recon {
namespace {

void put_rows(ParamBlock& block, const std::vector<int64_t>& frames, const torch::Tensor& values) {
    auto v = values.to(torch::kCPU, torch::kFloat32).contiguous().reshape({values.size(0), -1});
    NED_CHECK(v.size(1) == block.row_size(), "parameter block row size ", block.row_size(), " != ", v.size(1));
    for (size_t i = 0; i < frames.size(); ++i) std::copy_n(v[i].data_ptr<float>(), v.size(1), block.row(frames[i]));
}

void put_all(Reconstruction& r, const std::string& name, const torch::Tensor& values /*[T,...]*/) {
    std::vector<int64_t> frames(r.num_frames());
    for (int64_t t = 0; t < r.num_frames(); ++t) frames[t] = t;
    put_rows(r.ensure(name), frames, values);
}

void run_deca(Reconstruction& r, const face::FaceTrack& track, const std::string& video, DecaModel& deca,
              const ReconstructOptions& o, const ProgressFn& progress) {
    for (const char* n : {"shape", "tex", "exp", "pose", "cam", "light", "detail", "tform"}) r.ensure(n);
    io::VideoReader reader(video, o.decode_threads);
    const int64_t T = r.num_frames();
    const int batch = std::max(1, o.batch);
    std::vector<torch::Tensor> imgs;
    std::vector<int64_t> frames;
    long done = 0, total = static_cast<long>(track.num_valid());
    auto flush = [&] {
        if (frames.empty()) return;
        auto c = deca.encode(torch::stack(imgs), true);
        put_rows(r.at("shape"), frames, c.shape);
        put_rows(r.at("tex"), frames, c.tex);
        put_rows(r.at("exp"), frames, c.exp);
        put_rows(r.at("pose"), frames, c.pose);
        put_rows(r.at("cam"), frames, c.cam);
        put_rows(r.at("light"), frames, c.light);
        put_rows(r.at("detail"), frames, c.detail);
        for (auto t : frames) r.valid[t] = 1;
        done += static_cast<long>(frames.size());
        if (progress) progress(done, total);
        imgs.clear();
        frames.clear();
    };
    io::Frame frame;
    int64_t t = 0;
    for (; t < T && reader.read(frame); ++t) {
        const auto& ff = track.frames[t];
        if (!ff.valid) continue;
        auto crop = face::extract_crop(frame.bgr, ff, track.crop_size);
        auto tf = deca_crop_tform(ff.landmarks);
        float* row = r.at("tform").row(t);
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) row[i * 3 + j] = tf(i, j);
        imgs.push_back(deca_crop_image(crop, tf));
        frames.push_back(t);
        if (static_cast<int>(frames.size()) >= batch) flush();
    }
    flush();
    if (t < T)
        NED_LOG_WARN("[recon] {} ended after {} frames, the track has {}; the rest are marked invalid", video, t, T);
}

void run_fit(Reconstruction& r, const face::FaceTrack& track, const FlameModel& flame, const ReconstructOptions& o,
             const ProgressFn& progress) {
    const int64_t T = r.num_frames();
    std::vector<face::Landmarks> lmk(T);
    std::vector<uint8_t> valid(T, 0);
    for (int64_t t = 0; t < T; ++t) {
        lmk[t] = track.frames[t].landmarks;
        valid[t] = track.frames[t].valid ? 1 : 0;
    }
    auto res = fit_landmarks(flame, lmk, valid, o.fit, progress);
    put_all(r, "shape", res.shape.unsqueeze(0).expand({T, -1}));
    put_all(r, "exp", res.exp);
    put_all(r, "pose", res.pose);
    put_all(r, "cam", res.cam);
    put_all(r, "tform", res.tform);
    r.valid = valid;
    // zero parameters for invalid frames (shape is shared; keep it only where valid)
    for (int64_t t = 0; t < T; ++t)
        if (!valid[t]) std::fill_n(r.at("shape").row(t), r.at("shape").row_size(), 0.f);
    float maxe = res.error_px.numel() ? res.error_px.max().item<float>() : 0.f;
    NED_LOG_INFO("[recon] fit: landmark reprojection error {:.3f} px mean, {:.3f} px worst frame (256 crop)",
                 res.mean_error_px, maxe);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4f", res.mean_error_px);
    r.extra_metadata["fit_error_px"] = buf;
    std::snprintf(buf, sizeof buf, "%.4f", maxe);
    r.extra_metadata["fit_error_px_max"] = buf;
}

}  // namespace

void ReconstructOptions::validate() const {
    if (batch < 1 || batch > 1024)
        throw OptionError("ReconstructOptions::batch", cat(" must be in 1..1024 (got ", batch, ")"));
    if (decode_threads < 0)
        throw OptionError("ReconstructOptions::decode_threads", cat(" must be >= 0 (got ", decode_threads, ")"));
    fit.validate();
}

void ExportMeshOptions::validate() const {
    if (out_dir.empty()) throw OptionError("ExportMeshOptions::out_dir", " is empty: no output folder");
    std::error_code ec;
    const fs::path out(out_dir);
    if (fs::exists(out, ec) && !fs::is_directory(out, ec))
        throw OptionError("ExportMeshOptions::out_dir", cat(" ", out_dir, ": exists and is not a folder"));
    const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
    if (!fs::is_directory(parent, ec))
        throw OptionError("ExportMeshOptions::out_dir",
                          cat(" ", out_dir, ": parent folder '", parent.string(), "' does not exist"));
}

Reconstruction reconstruct_workdir(const std::string& workdir, const ReconstructOptions& o,
                                   const ProgressFn& progress) {
    o.validate();
    const Method chosen = o.method != Method::Auto ? o.method : o.deca_path.empty() ? Method::Fit : Method::Deca;
    const std::string method = chosen == Method::Deca ? "deca" : "fit";  // the name in the file's metadata
    const std::string out = (fs::path(workdir) / "reconstruction.safetensors").string();
    const std::string track_path = (fs::path(workdir) / "track.safetensors").string();
    const auto device = resolve_device(o.device);

    // models first (exit 3 before anything else), then inputs and the output
    auto flame = FlameModel::load(o.flame_path, device);
    DecaModel deca;
    if (method == "deca") {
        if (o.deca_path.empty())
            throw ModelError(
                "method deca needs the DECA weights (--deca FILE; see docs/models.md), or use "
                "--method fit to reconstruct from the FLAME model and the landmarks alone");
        deca = DecaModel::load(o.deca_path, device);
    }
    if (!fs::exists(track_path))
        throw InputError(cat(track_path, " not found: run `ned analyze VIDEO ", workdir, "` first"));
    auto track = face::load_track(track_path);
    if (!track.has_analysis)
        throw InputError(cat(track_path, " has no landmarks: run `ned analyze VIDEO ", workdir, "` first"));
    check_output_path(out, o.overwrite, "reconstruction");
    const std::string video = o.video.empty() ? track.source : o.video;
    if (method == "deca") check_input_file(video, "video");

    Reconstruction r;
    r.source = video;
    r.fps = cat(track.fps_num, "/", track.fps_den);
    r.method = method;
    r.valid.assign(track.frames.size(), 0);
    r.extra_metadata["flame"] = fs::path(o.flame_path).filename().string();
    NED_LOG_INFO("[recon] {} frames ({} with a face), method {}, device {}", track.frames.size(), track.num_valid(),
                 method, device.str());
    if (method == "deca") {
        r.extra_metadata["deca"] = fs::path(o.deca_path).filename().string();
        run_deca(r, track, video, deca, o, progress);
    } else {
        run_fit(r, track, flame, o, progress);
    }
    save_reconstruction(out, r);
    NED_LOG_INFO("[recon] wrote {}", out);
    return r;
}

std::vector<long> parse_frame_list(const std::string& spec, long n) {
    std::set<long> out;
    if (spec.empty()) {
        for (long i = 0; i < n; ++i) out.insert(i);
        return {out.begin(), out.end()};
    }
    std::stringstream ss(spec);
    std::string item;
    auto num = [&](const std::string& s) {
        size_t pos = 0;
        long v = -1;
        try {
            v = std::stol(s, &pos);
        } catch (const std::exception&) {
            pos = 0;
        }
        if (s.empty() || pos != s.size() || v < 0)
            throw InputError(
                cat("bad frame list '", spec, "': '", s, "' is not a frame index (expected e.g. 0-10,25,40)"));
        if (v >= n) throw InputError(cat("frame list '", spec, "': frame ", v, " out of range (", n, " frames)"));
        return v;
    };
    while (std::getline(ss, item, ',')) {
        auto dash = item.find('-');
        if (dash == std::string::npos) {
            out.insert(num(item));
        } else {
            long a = num(item.substr(0, dash)), b = num(item.substr(dash + 1));
            if (b < a) throw InputError(cat("bad frame list '", spec, "': range ", item, " is reversed"));
            for (long i = a; i <= b; ++i) out.insert(i);
        }
    }
    return {out.begin(), out.end()};
}

void write_obj(const std::string& path, const torch::Tensor& vertices, const torch::Tensor& faces, bool overwrite) {
    AtomicFile file(path, overwrite);
    auto v = vertices.to(torch::kCPU, torch::kFloat32).contiguous();
    auto f = faces.to(torch::kCPU, torch::kLong).contiguous();
    FILE* fp = std::fopen(file.temp_path().c_str(), "w");
    if (!fp) throw IoError(cat("cannot write mesh ", path, ": ", std::strerror(errno)));
    std::fprintf(fp, "# FLAME mesh written by ned export-mesh (model space, metres)\n");
    auto va = v.accessor<float, 2>();
    for (int64_t i = 0; i < v.size(0); ++i) std::fprintf(fp, "v %.6f %.6f %.6f\n", va[i][0], va[i][1], va[i][2]);
    auto fa = f.accessor<int64_t, 2>();
    for (int64_t i = 0; i < f.size(0); ++i)
        std::fprintf(fp, "f %ld %ld %ld\n", long(fa[i][0] + 1), long(fa[i][1] + 1), long(fa[i][2] + 1));
    const bool ok = std::fflush(fp) == 0 && std::ferror(fp) == 0;
    const int err = errno;
    if (std::fclose(fp) != 0 || !ok)
        throw IoError(cat("cannot write mesh ", path, ": ", std::strerror(ok ? errno : err)));
    file.commit();
}

long export_meshes(const std::string& recon_path, const ExportMeshOptions& o, const ProgressFn& progress) {
    auto flame = FlameModel::load(o.flame_path);
    auto r = load_reconstruction(recon_path);
    auto frames = parse_frame_list(o.frames, r.num_frames());
    const auto& shape = r.at("shape");
    const auto& exp = r.at("exp");
    const auto& pose = r.at("pose");
    std::vector<long> todo;
    for (long t : frames) {
        if (r.valid[t]) {
            todo.push_back(t);
        } else if (!o.frames.empty()) {
            NED_LOG_WARN("[recon] frame {} has no face; no mesh written", t);
        }
    }
    o.validate();  // after the inputs' checks, as before
    // A folder this run creates is removed again, with the meshes written so far, on a failure or a signal; in an
    // existing folder each mesh is checked (-y) and written atomically, and other frames' meshes are kept.
    std::unique_ptr<OutputDir> out_dir;
    if (!fs::exists(o.out_dir)) out_dir = std::make_unique<OutputDir>(o.out_dir, false, ".obj", "--out folder");
    for (long t : todo) check_output_path((fs::path(o.out_dir) / frame_name(t, ".obj")).string(), o.overwrite, "mesh");
    auto rows = [](const ParamBlock& b, const std::vector<long>& ts) {
        auto out = torch::empty({static_cast<int64_t>(ts.size()), b.row_size()});
        for (size_t i = 0; i < ts.size(); ++i) std::copy_n(b.row(ts[i]), b.row_size(), out[i].data_ptr<float>());
        return out;
    };
    const size_t B = 16;
    long written = 0;
    for (size_t i = 0; i < todo.size(); i += B) {
        std::vector<long> ts(todo.begin() + i, todo.begin() + std::min(todo.size(), i + B));
        torch::NoGradGuard ng;
        auto out = flame.forward(rows(shape, ts), rows(exp, ts), rows(pose, ts));
        for (size_t k = 0; k < ts.size(); ++k) {
            write_obj((fs::path(o.out_dir) / frame_name(ts[k], ".obj")).string(), out.vertices[k], flame.faces(),
                      o.overwrite);
            ++written;
        }
        if (progress) progress(written, static_cast<long>(todo.size()));
    }
    if (out_dir) out_dir->commit();
    NED_LOG_INFO("[recon] wrote {} meshes to {}", written, o.out_dir);
    return written;
}

}  // namespace ned::recon
