//! The tunnels' integration tests, in one binary: ngrok through the real crate up to the
//! socket, Tailscale through a stand-in `tailscale` CLI.

#[cfg(feature = "ngrok")]
mod ngrok;
mod tailscale;
