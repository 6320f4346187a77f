"""Tar streams of layers: read, write, compress, apply, diff.

- compression: detect / open_decompressed / compressing_writer (gzip via isal, zstd, bzip2, xz)
- tarreader:   sequential tar reader (ustar, GNU, PAX), bounded memory
- tarsafe:     the rules deciding whether an entry may be extracted, and where
- apply:       apply_layer (overlay / naive / no whiteout handling)
- fstree:      trees of any depth by directory descriptors (DirCursor, remove_tree/remove_path)
- diff:        write_overlay_diff (commit), write_tree (export)
- changes:     overlay_changes (`docker diff`), diff_size (SizeRw)
- scan, tarstream: added by the store/transport work (copy-and-check a layer tar; archive writer)
"""
