#!/usr/bin/env python3
"""Generate the demo catalog riff ships: a small fictional catalog (catalog.json) and a few
seconds of synthesized audio per track (8 kHz, 8-bit mono WAV), all made here from scratch.

Run from the repository root: scripts/make-demo-catalog.py
Output: components/catalog/demo/catalog.json and components/catalog/demo/audio/<track-id>.wav
"""
import json
import math
import os
import struct
import wave

OUT = os.path.join(os.path.dirname(__file__), "..", "components", "catalog", "demo")
RATE = 8000
SECONDS = 4

GENRES = ["ambient", "electronic", "folk", "jazz", "rock", "classical"]
ARTISTS = [
    # id, name, genres, albums: (id, name, year, tracks: (id, name, base frequency Hz))
    ("ar01", "The Sine Waves", ["electronic", "ambient"], [
        ("al01", "Oscillations", 2019, [("tr01", "Carrier", 220), ("tr02", "Harmonic Drift", 247), ("tr03", "Phase", 262)]),
        ("al02", "Low Pass", 2022, [("tr04", "Cutoff", 196), ("tr05", "Resonance", 294)]),
    ]),
    ("ar02", "Quartet Nine", ["jazz"], [
        ("al03", "Blue Intervals", 2016, [("tr06", "Minor Third", 311), ("tr07", "Tritone Walk", 330), ("tr08", "Ninth Street", 349)]),
    ]),
    ("ar03", "Hollow Pines", ["folk", "rock"], [
        ("al04", "Cabin Songs", 2021, [("tr09", "Woodsmoke", 392), ("tr10", "River Crossing", 440)]),
    ]),
    ("ar04", "Aria Lumen", ["classical"], [
        ("al05", "Etudes for Tone", 2020, [("tr11", "Etude in A", 440), ("tr12", "Etude in E", 330)]),
    ]),
]


def synth(path, freq, seed):
    """A plucked tone with a fifth above it, decaying, then silence: audible, tiny, deterministic."""
    frames = bytearray()
    for i in range(RATE * SECONDS):
        t = i / RATE
        envelope = math.exp(-1.5 * (t % 1.0)) * (1.0 if t < SECONDS - 0.5 else 0.0)
        note = freq * (1.0, 1.25, 1.5, 1.0)[int(t) % 4]
        sample = 0.6 * math.sin(2 * math.pi * note * t) + 0.3 * math.sin(2 * math.pi * note * 1.5 * t + seed)
        frames.append(int(128 + 100 * envelope * sample) & 0xFF)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))


def main():
    os.makedirs(os.path.join(OUT, "audio"), exist_ok=True)
    catalog = {"genres": GENRES, "artists": [], "albums": [], "tracks": []}
    popularity = 90
    for artist_id, artist_name, genres, albums in ARTISTS:
        catalog["artists"].append({"id": artist_id, "name": artist_name, "genres": genres})
        for album_id, album_name, year, tracks in albums:
            catalog["albums"].append({"id": album_id, "name": album_name, "artist_id": artist_id, "release_year": year})
            for number, (track_id, track_name, freq) in enumerate(tracks, start=1):
                synth(os.path.join(OUT, "audio", f"{track_id}.wav"), freq, number)
                catalog["tracks"].append({
                    "id": track_id, "name": track_name, "album_id": album_id, "artist_id": artist_id,
                    "genre": genres[0], "track_number": number, "duration_ms": SECONDS * 1000,
                    "popularity": popularity, "audio": f"audio/{track_id}.wav",
                })
                popularity -= 5
    with open(os.path.join(OUT, "catalog.json"), "w") as f:
        json.dump(catalog, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
