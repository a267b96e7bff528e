#!/usr/bin/env python3
"""Import the Chinook sample catalog into a running riff through the catalog's admin endpoint.

Usage: scripts/import-chinook.py [--replace] BASE_URL ADMIN_TOKEN [CHINOOK_SQLITE]
  BASE_URL      e.g. http://127.0.0.1:3000
  ADMIN_TOKEN   the value of RIFF_VARIABLE_CATALOG_ADMIN_TOKEN the server was started with
  CHINOOK_SQLITE defaults to ../shared/data/chinook/Chinook_Sqlite.sqlite beside the checkout

Artists, albums, tracks (with durations and genres) become riff catalog entries with ids
prefixed "ck"; a track's popularity is its share of Chinook's purchases (0-100). Independent of
riff: it only reads the SQLite file and POSTs JSON. Prints the catalog's counts afterwards.
"""
import json
import os
import sqlite3
import sys
import urllib.request


def build(path, replace):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    genres = {gid: name for gid, name in db.execute("SELECT GenreId, Name FROM Genre")}
    sales = dict(db.execute("SELECT TrackId, COUNT(*) FROM InvoiceLine GROUP BY TrackId"))
    top = max(sales.values()) if sales else 1
    artist_genres = {}
    tracks = []
    numbers = {}
    for tid, name, album, genre, ms, artist in db.execute(
        "SELECT t.TrackId, t.Name, t.AlbumId, t.GenreId, t.Milliseconds, a.ArtistId "
        "FROM Track t JOIN Album a ON a.AlbumId = t.AlbumId ORDER BY t.AlbumId, t.TrackId"
    ):
        numbers[album] = numbers.get(album, 0) + 1
        genre_name = genres.get(genre)
        if genre_name:
            artist_genres.setdefault(artist, [])
            if genre_name not in artist_genres[artist]:
                artist_genres[artist].append(genre_name)
        tracks.append({
            "id": f"cktr{tid}", "name": name, "album_id": f"ckal{album}", "artist_id": f"ckar{artist}",
            "genre": genre_name, "track_number": numbers[album], "duration_ms": ms,
            "popularity": round(100 * sales.get(tid, 0) / top), "audio": None,
        })
    artists = [
        {"id": f"ckar{aid}", "name": name, "genres": artist_genres.get(aid, [])}
        for aid, name in db.execute("SELECT ArtistId, Name FROM Artist ORDER BY ArtistId")
    ]
    albums = [
        {"id": f"ckal{aid}", "name": title, "artist_id": f"ckar{artist}", "release_year": None}
        for aid, title, artist in db.execute("SELECT AlbumId, Title, ArtistId FROM Album ORDER BY AlbumId")
    ]
    return {"replace": replace, "genres": sorted(genres.values()), "artists": artists, "albums": albums, "tracks": tracks}


def main(argv):
    replace = "--replace" in argv
    args = [a for a in argv if a != "--replace"]
    if len(args) < 2:
        sys.exit(__doc__)
    base, token = args[0].rstrip("/"), args[1]
    default = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "chinook", "Chinook_Sqlite.sqlite")
    path = args[2] if len(args) > 2 else default
    if not os.path.exists(path):
        sys.exit(f"Chinook database not found at {path}")
    body = json.dumps(build(path, replace)).encode()
    req = urllib.request.Request(
        f"{base}/v1/admin/catalog/import", data=body, method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            print(resp.read().decode())
    except urllib.error.HTTPError as e:
        sys.exit(f"import refused: {e.code} {e.read().decode()}")


if __name__ == "__main__":
    main(sys.argv[1:])
