//! G.711 μ-law audio: the 8 kHz telephone encoding of real-time streams, converted to and
//! from 16-bit linear PCM exactly as ITU-T G.711 specifies, without allocating.
//!
//! (Being implemented: see the tests for the reference values.)
