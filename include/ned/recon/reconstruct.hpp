#pragma once
// `ned reconstruct` and `ned export-mesh` as library calls.
//
// reconstruct_workdir: WORKDIR/track.safetensors (after `ned analyze`) -> WORKDIR/reconstruction.safetensors
//   method "deca": frames decoded with io::VideoReader, cropped with face::extract_crop, DECA's 224 crop
//                  from the track's 68 landmarks (deca_crop_tform), batched through E_flame + E_detail.
//   method "fit" : FLAME fitted to the track's landmarks (fit.hpp); needs no video and no DECA.
// export_meshes: one Wavefront OBJ per frame (FLAME vertices after LBS in model space, before the camera).
#include <string>
#include <vector>

#include "ned/core/progress.hpp"
#include "ned/recon/fit.hpp"
#include "ned/recon/reconstruction.hpp"

namespace ned::recon {

/// How `ned reconstruct` reconstructs: DECA's encoders, or FLAME fitted to the landmarks; Auto = Deca when
/// deca_path is set, else Fit.
enum class Method { Auto, Deca, Fit };

struct ReconstructOptions {
    std::string flame_path;  ///< converted FLAME asset (required)
    std::string deca_path;   ///< converted DECA weights (required for Method::Deca)
    Method method = Method::Auto;
    std::string video;            ///< overrides the track's `source`
    std::string device = "auto";  ///< auto | cpu | cuda | cuda:N
    int batch = 8;                ///< crops per DECA forward
    int decode_threads = 0;       ///< decoder threads (0 = auto)
    FitOptions fit;
    bool overwrite = false;

    /// OptionError naming the field for a batch outside 1..1024, negative decode threads or a bad fit option.
    void validate() const;
};

/// Reconstruct every frame of WORKDIR's track and write WORKDIR/reconstruction.safetensors (returned too).
/// Missing/invalid FLAME or DECA file -> ModelError (checked first); missing track or track without
/// analysis -> InputError; existing output without overwrite -> InputError (checked before any work).
Reconstruction reconstruct_workdir(const std::string& workdir, const ReconstructOptions& options,
                                   const ProgressFn& progress = {});

/// "0-10,25,40" -> sorted unique indices; every index must be < num_frames (InputError otherwise).
/// Empty spec = all frames.
std::vector<long> parse_frame_list(const std::string& spec, long num_frames);

struct ExportMeshOptions {
    std::string flame_path;
    std::string out_dir;  ///< created if missing
    std::string frames;   ///< frame list ("" = all valid frames)
    bool overwrite = false;

    /// OptionError naming out_dir when it is empty, exists as a file or its parent folder does not exist.
    void validate() const;
};

/// Write out_dir/frame_name(t, ".obj") for the selected valid frames of the reconstruction at
/// `recon_path`; returns the number of files written. Invalid frames in the list are skipped (warning).
long export_meshes(const std::string& recon_path, const ExportMeshOptions& options, const ProgressFn& progress = {});

/// Write one OBJ (vertices [V,3], faces [F,3] 0-based; written 1-based) to `path` atomically.
void write_obj(const std::string& path, const torch::Tensor& vertices, const torch::Tensor& faces, bool overwrite);

}  // namespace ned::recon
