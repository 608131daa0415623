/*
 * miniaudio.h — an audio-less stand-in written for lago.
 *
 * Go module zips omit every vendor/ directory, so building
 * github.com/ollama/ollama with `go install …@version` loses llama.cpp's
 * vendored miniaudio, which only mtmd-helper.cpp includes, to decode audio
 * inputs for multimodal models. lago never sends audio, so this header
 * declares just the subset of the miniaudio API that mtmd-helper.cpp uses
 * and implements every decoder entry point as a failure: audio input is
 * reported as undecodable (MA_NOT_IMPLEMENTED) rather than crashing.
 *
 * It follows miniaudio's single-header convention so the including file
 * needs no change: declarations are always visible, definitions only where
 * MINIAUDIO_IMPLEMENTATION is defined, and MA_API (which mtmd-helper.cpp
 * sets to `static`) prefixes every function.
 *
 * This is not miniaudio and contains none of its code.
 */
#ifndef LAGO_MINIAUDIO_STANDIN_H
#define LAGO_MINIAUDIO_STANDIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef MA_API
#define MA_API extern
#endif

typedef uint32_t ma_uint32;
typedef uint64_t ma_uint64;

/* Result codes: zero is success, failures are negative, as in miniaudio. */
typedef int ma_result;
#define MA_SUCCESS          0
#define MA_ERROR           -1
#define MA_INVALID_ARGS    -2
#define MA_NOT_IMPLEMENTED -29

typedef enum {
    ma_format_unknown = 0,
    ma_format_u8      = 1,
    ma_format_s16     = 2,
    ma_format_s24     = 3,
    ma_format_s32     = 4,
    ma_format_f32     = 5
} ma_format;

typedef struct {
    ma_format format;
    ma_uint32 channels;
    ma_uint32 sampleRate;
} ma_decoder_config;

/* A decoder is only ever a stack object that init fails to fill in. */
typedef struct {
    ma_format outputFormat;
    ma_uint32 outputChannels;
    ma_uint32 outputSampleRate;
} ma_decoder;

MA_API ma_decoder_config ma_decoder_config_init(ma_format outputFormat, ma_uint32 outputChannels, ma_uint32 outputSampleRate);
MA_API ma_result ma_decoder_init_memory(const void* pData, size_t dataSize, const ma_decoder_config* pConfig, ma_decoder* pDecoder);
MA_API ma_result ma_decoder_get_length_in_pcm_frames(ma_decoder* pDecoder, ma_uint64* pLength);
MA_API ma_result ma_decoder_read_pcm_frames(ma_decoder* pDecoder, void* pFramesOut, ma_uint64 frameCount, ma_uint64* pFramesRead);
MA_API ma_result ma_decoder_uninit(ma_decoder* pDecoder);

/* mtmd-helper.cpp writes a debug WAV only when built with MTMD_AUDIO_DEBUG,
 * which turns MA_NO_ENCODING off; the encoder fails the same way. */
#ifndef MA_NO_ENCODING
typedef enum {
    ma_encoding_format_unknown = 0,
    ma_encoding_format_wav     = 1
} ma_encoding_format;

typedef struct {
    ma_encoding_format encodingFormat;
    ma_format format;
    ma_uint32 channels;
    ma_uint32 sampleRate;
} ma_encoder_config;

typedef struct {
    ma_encoder_config config;
} ma_encoder;

MA_API ma_encoder_config ma_encoder_config_init(ma_encoding_format encodingFormat, ma_format format, ma_uint32 channels, ma_uint32 sampleRate);
MA_API ma_result ma_encoder_init_file(const char* pFilePath, const ma_encoder_config* pConfig, ma_encoder* pEncoder);
MA_API ma_result ma_encoder_write_pcm_frames(ma_encoder* pEncoder, const void* pFramesIn, ma_uint64 frameCount, ma_uint64* pFramesWritten);
MA_API void ma_encoder_uninit(ma_encoder* pEncoder);
#endif /* MA_NO_ENCODING */

#ifdef MINIAUDIO_IMPLEMENTATION

MA_API ma_decoder_config ma_decoder_config_init(ma_format outputFormat, ma_uint32 outputChannels, ma_uint32 outputSampleRate) {
    ma_decoder_config c;
    c.format = outputFormat;
    c.channels = outputChannels;
    c.sampleRate = outputSampleRate;
    return c;
}

MA_API ma_result ma_decoder_init_memory(const void* pData, size_t dataSize, const ma_decoder_config* pConfig, ma_decoder* pDecoder) {
    (void)pData;
    (void)dataSize;
    (void)pConfig;
    if (pDecoder != NULL) {
        memset(pDecoder, 0, sizeof(*pDecoder));
    }
    return MA_NOT_IMPLEMENTED;
}

MA_API ma_result ma_decoder_get_length_in_pcm_frames(ma_decoder* pDecoder, ma_uint64* pLength) {
    (void)pDecoder;
    if (pLength != NULL) {
        *pLength = 0;
    }
    return MA_NOT_IMPLEMENTED;
}

MA_API ma_result ma_decoder_read_pcm_frames(ma_decoder* pDecoder, void* pFramesOut, ma_uint64 frameCount, ma_uint64* pFramesRead) {
    (void)pDecoder;
    (void)pFramesOut;
    (void)frameCount;
    if (pFramesRead != NULL) {
        *pFramesRead = 0;
    }
    return MA_NOT_IMPLEMENTED;
}

MA_API ma_result ma_decoder_uninit(ma_decoder* pDecoder) {
    (void)pDecoder;
    return MA_SUCCESS;
}

#ifndef MA_NO_ENCODING
MA_API ma_encoder_config ma_encoder_config_init(ma_encoding_format encodingFormat, ma_format format, ma_uint32 channels, ma_uint32 sampleRate) {
    ma_encoder_config c;
    c.encodingFormat = encodingFormat;
    c.format = format;
    c.channels = channels;
    c.sampleRate = sampleRate;
    return c;
}

MA_API ma_result ma_encoder_init_file(const char* pFilePath, const ma_encoder_config* pConfig, ma_encoder* pEncoder) {
    (void)pFilePath;
    (void)pConfig;
    if (pEncoder != NULL) {
        memset(pEncoder, 0, sizeof(*pEncoder));
    }
    return MA_NOT_IMPLEMENTED;
}

MA_API ma_result ma_encoder_write_pcm_frames(ma_encoder* pEncoder, const void* pFramesIn, ma_uint64 frameCount, ma_uint64* pFramesWritten) {
    (void)pEncoder;
    (void)pFramesIn;
    (void)frameCount;
    if (pFramesWritten != NULL) {
        *pFramesWritten = 0;
    }
    return MA_NOT_IMPLEMENTED;
}

MA_API void ma_encoder_uninit(ma_encoder* pEncoder) {
    (void)pEncoder;
}
#endif /* MA_NO_ENCODING */

#endif /* MINIAUDIO_IMPLEMENTATION */

#ifdef __cplusplus
}
#endif

#endif /* LAGO_MINIAUDIO_STANDIN_H */
