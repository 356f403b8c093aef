//! Wire comparison of sifbake with the official clients, from the emulator recordings.
