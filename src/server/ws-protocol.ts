// The /v1/ws binary protocol in one import: frame constants and types (ws-frames.ts), the
// decoders (ws-decode.ts) and the encoders (ws-encode.ts).
export * from './ws-decode.js';
export * from './ws-encode.js';
export * from './ws-frames.js';
