//! The HTTP API against a real PostgreSQL (a fresh database per test), driven through the
//! router without a socket. The end-to-end tests of the real process are in the repository's
//! top-level `tests/`.

mod access;
mod audit;
mod fixture;
mod group_commit;
mod limits;
mod openapi;
mod pages;
mod recording;
mod recording_pages;
mod sheets;
mod statistics;
mod transfer;
