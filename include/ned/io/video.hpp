#pragma once
// Video I/O on libav* (FFmpeg 5.1). Boundary types of the decode/encode stages.
//
// VideoReader decodes every format the system FFmpeg decodes into BGR frames in *display orientation*
// (the stream's rotation metadata is applied), each with its presentation timestamp, preserving variable
// frame rate; 8-bit BGR by default, or BGR48 at the source's depth (FrameDepth::Source). VideoWriter encodes
// BGR frames (8 or 16 bits) with libx264, libx265, ProRes (prores_ks) or FFV1 at exactly the timestamps given,
// by default in the source's chroma layout and bit depth and with its colour tags, and copies every audio
// stream of the source packet for packet (never re-encoded).
//
// Errors: unreadable / not-a-video / no video stream / no frames -> InputError (exit code 2);
// encoder or muxer failures -> IoError. Not thread-safe: one reader/writer per thread.
#include <opencv2/core.hpp>

#include <cstdint>
#include <memory>
#include <map>
#include <string>
#include <vector>

namespace ned::io {

/// An exact rational number (frame rates, time bases).
struct Rational {
    int num = 0;
    int den = 1;
    double value() const { return den ? static_cast<double>(num) / den : 0.0; }
};

struct AudioStreamInfo {
    int index = -1;       ///< stream index in the container
    std::string codec;    ///< codec name, e.g. "aac"
    int sample_rate = 0;  ///< Hz
    int channels = 0;
    int64_t bit_rate = 0;  ///< bits/s, 0 if unknown
};

/// Colour description of a stream, as FFmpeg's AVColor* enum values (unspecified = 2 for the first three, 0 for range).
struct ColorInfo {
    int primaries = 2;  ///< AVColorPrimaries (1 = BT.709)
    int transfer = 2;   ///< AVColorTransferCharacteristic
    int matrix = 2;     ///< AVColorSpace (1 = BT.709, 6 = SMPTE170M/BT.601)
    int range = 0;      ///< AVColorRange (1 = limited/MPEG, 2 = full/JPEG)
};

struct VideoInfo {
    std::string path;
    std::string container;    ///< demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    double duration_s = 0.0;  ///< container duration
    int stream_index = -1;    ///< index of the video stream
    std::string codec;        ///< e.g. "h264", "hevc", "mpeg4", "vp9"
    int width = 0;            ///< coded width (before rotation)
    int height = 0;           ///< coded height (before rotation)
    int rotation = 0;         ///< clockwise degrees to display: 0, 90, 180, 270
    int display_width = 0;    ///< width of the frames VideoReader returns (after rotation)
    int display_height = 0;
    Rational frame_rate;      ///< average frame rate (avg_frame_rate, else r_frame_rate)
    Rational time_base;       ///< video stream time base (timestamps below are in this unit)
    int64_t frame_count = 0;  ///< number of frames (counted by decoding when probe(count=true))
    bool frame_count_exact = false;
    std::string pix_fmt;  ///< e.g. "yuv420p"
    int bit_depth = 8;    ///< bits per component of pix_fmt (8, 10, 12, 16)
    std::string chroma;   ///< "420", "422", "444" (YUV/RGB 4:4:4) or "gray"; "" when unknown (read as "420")
    bool has_alpha = false;
    ColorInfo color;        ///< the stream's colour tags (yuvj* formats read as full range)
    int64_t start_pts = 0;  ///< first video pts (time_base units), may be non-zero
    std::vector<AudioStreamInfo> audio;
};

/// Read stream information. With `count_frames` the video is demuxed (not decoded) to count its packets.
VideoInfo probe(const std::string& path, bool count_frames = true);

/// One decoded frame.
struct Frame {
    cv::Mat bgr;          ///< CV_8UC3 (or CV_16UC3 from a FrameDepth::Source reader), display orientation
    int64_t index = 0;    ///< 0-based decode-order index (presentation order)
    int64_t pts = 0;      ///< presentation timestamp in VideoInfo::time_base units
    double time_s = 0.0;  ///< pts in seconds
};

/// All packets of one stream, demuxed without decoding (e.g. to compare copied audio byte for byte).
struct StreamPackets {
    int index = -1;
    std::string codec;
    Rational time_base;
    std::vector<int64_t> pts;  ///< per packet, time_base units (INT64_MIN when unknown)
    std::vector<int64_t> dts;
    std::vector<std::vector<uint8_t>> data;  ///< payload bytes per packet
    /// pts of packet i in seconds (NaN when unknown).
    double pts_s(size_t i) const;
};

/// Demux every packet of stream `stream_index` of `path`. Throws InputError for unreadable files or a
/// stream index that does not exist.
StreamPackets read_stream_packets(const std::string& path, int stream_index);

/// What VideoReader hands out: 8-bit BGR (every analysis stage) or the source's depth (compositing for deep output).
enum class FrameDepth { Eight, Source };

class VideoReader {
public:
    /// Opens `path`; throws InputError if it cannot be opened or has no video stream.
    /// threads: decoder threads, 0 = auto. depth: FrameDepth::Source hands out CV_16UC3 frames (BGR48, full
    /// 0..65535 scale) when info().bit_depth > 8, else CV_8UC3 as FrameDepth::Eight.
    explicit VideoReader(const std::string& path, int threads = 0, FrameDepth depth = FrameDepth::Eight);
    ~VideoReader();
    VideoReader(const VideoReader&) = delete;
    VideoReader& operator=(const VideoReader&) = delete;

    /// Stream information. frame_count is the container's estimate (for an mp4 cut short, the samples of its
    /// index wholly inside the file) until read() has returned false; from then on it is the number of frames
    /// decoded (frame_count_exact true).
    const VideoInfo& info() const;
    /// Decode the next frame into `frame`; false at the end of the stream. Damaged input keeps every frame
    /// FFmpeg decodes (as the ffmpeg CLI): a packet that cannot be decoded (corrupt data, the packet cut short
    /// at the end of a truncated file) logs a warning naming the frame and is skipped; a read error ends the
    /// input, and the frames still in the decoder are drained.
    bool read(Frame& frame);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// The video encoder: libx264, libx265, ProRes (prores_ks: 422 HQ or 4444, .mov only) or FFV1 (lossless, level 3
/// with slice CRCs; .mkv or .mov).
enum class Codec { H264, H265, ProRes, Ffv1 };

/// "h264", "h265", "prores", "ffv1" (the --codec texts).
const char* codec_name(Codec codec);

struct VideoWriterOptions {
    Codec codec = Codec::H264;
    int crf = 18;                   ///< libx264/libx265 constant rate factor (0 = lossless, 18 = visually lossless)
    std::string preset = "medium";  ///< libx264/libx265 preset
    /// FFmpeg name, e.g. "yuv422p10le", "gray16le"; "" = the source's chroma layout and depth as close as the codec
    /// can hold them (ProRes: 422 HQ for 4:2:0/4:2:2 sources, 4444 for 4:4:4).
    std::string pix_fmt;
    /// Tag the output with the source's primaries, transfer, matrix and range, and convert BGR -> YUV with that
    /// matrix and range. Untagged sources (and keep_color false) get BT.601 limited range, tagged so.
    bool keep_color = true;
    bool copy_audio = true;  ///< copy every audio stream of the source, packet for packet
    int threads = 0;         ///< encoder threads, 0 = auto
    std::string name;        ///< path named in messages (the final path when writing to a temporary file)
    /// Container metadata tags written into the header (e.g. {"comment", "..."}; mp4/mov/mkv keep `comment`).
    std::map<std::string, std::string> metadata;
};

/// Refuses (InputError, exit 2, one line naming the file and what is wrong) a codec the container cannot hold, a
/// pix_fmt the codec cannot take or a CRF/preset out of range, before any work; the CLI calls it first.
void check_writer_options(const std::string& out_path, const VideoInfo& source, const VideoWriterOptions& options);

/// The pix_fmt the writer will use for `source` and `options` (resolves "").
std::string output_pix_fmt(const VideoInfo& source, const VideoWriterOptions& options);

class VideoWriter {
public:
    /// Creates `out_path` (container chosen from its extension: .mp4, .mov, .mkv) for frames of
    /// source.display_width x display_height in source.time_base (options checked by check_writer_options). When
    /// options.copy_audio, the audio
    /// streams of source.path are copied; an audio codec the container cannot hold throws InputError
    /// suggesting .mkv. Does not check for existing files (callers use AtomicFile).
    VideoWriter(const std::string& out_path, const VideoInfo& source, const VideoWriterOptions& options = {});
    ~VideoWriter();
    VideoWriter(const VideoWriter&) = delete;
    VideoWriter& operator=(const VideoWriter&) = delete;

    /// Encode one frame at frame.pts (source time base). Frames must come in increasing pts order. CV_8UC3 or
    /// CV_16UC3 (BGR48, full scale), or CV_8UC1 / CV_16UC1 grey, whatever the output's depth: swscale converts
    /// with the output's matrix and range.
    void write(const Frame& frame);
    /// Flush the encoder, write the remaining audio packets and the trailer. Called by the destructor
    /// if not called explicitly (errors are then only logged).
    void finish();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ned::io
