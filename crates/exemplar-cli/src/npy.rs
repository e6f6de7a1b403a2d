//! NumPy's `.npy` format for 2-D float arrays (images × units): read from a lab's own
//! pipeline (`exemplar exemplars --activations`) and written as a shard's partial
//! activations. Format 1.0–3.0; `<f4`, `<f8`, `>f4`, `>f8`; C or Fortran order; shape
//! `(n,)` or `(n, u)`. The file is untrusted: its header is parsed strictly, and its data
//! must be exactly as long as the header says, so nothing is allocated beyond the file's
//! size.

use std::io::Write;

/// A 2-D array of `f32` in row order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Rows (images).
    pub rows: usize,
    /// Columns (units).
    pub cols: usize,
    /// `rows × cols` values, row by row.
    pub data: Vec<f32>,
}

impl Array {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads an `.npy` file's bytes; the error names what is wrong.
pub fn parse(bytes: &[u8]) -> Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a NumPy .npy file (no \\x93NUMPY magic)".into());
    }
    let major = bytes[6];
    let (header_len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(format!("unsupported .npy format version {major}")),
    };
    let end = start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or("the .npy header is longer than the file")?;
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| "the .npy header is not text".to_string())?;
    let descr = dict_value(header, "descr")?;
    let (big_endian, width) = match descr.trim_matches(|c| c == '\'' || c == '"') {
        "<f4" | "|f4" | "=f4" => (false, 4),
        "<f8" | "|f8" | "=f8" => (false, 8),
        ">f4" => (true, 4),
        ">f8" => (true, 8),
        other => {
            return Err(format!(
                "the array holds {other}; exemplar reads float32 or float64 (f4, f8)"
            ))
        }
    };
    let fortran = match dict_value(header, "fortran_order")? {
        "True" => true,
        "False" => false,
        other => return Err(format!("fortran_order is {other}, not True or False")),
    };
    let shape = dict_value(header, "shape")?;
    let dims: Vec<usize> = shape
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("shape {shape} is not a list of sizes"))
        })
        .collect::<Result<_, _>>()?;
    let (rows, cols) = match dims[..] {
        [n] => (n, 1),
        [n, u] => (n, u),
        _ => {
            return Err(format!(
                "shape {shape}: exemplar reads images × units (2 dimensions)"
            ))
        }
    };
    if rows == 0 || cols == 0 {
        return Err(format!("shape {shape}: no images or no units"));
    }
    let data = &bytes[end..];
    let count = rows
        .checked_mul(cols)
        .and_then(|c| c.checked_mul(width).map(|b| (c, b)))
        .filter(|&(_, b)| b == data.len())
        .map(|(c, _)| c)
        .ok_or_else(|| {
            format!(
                "shape {shape} of {width}-byte floats needs {} data bytes, the file has {}",
                rows.saturating_mul(cols).saturating_mul(width),
                data.len()
            )
        })?;
    let value = |i: usize| -> f32 {
        let b = &data[i * width..(i + 1) * width];
        match (width, big_endian) {
            (4, false) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            (4, true) => f32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            (_, false) => f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32,
            (_, true) => f64::from_be_bytes(b.try_into().expect("8 bytes")) as f32,
        }
    };
    let mut out = Vec::with_capacity(count);
    for r in 0..rows {
        for c in 0..cols {
            out.push(value(if fortran { c * rows + r } else { r * cols + c }));
        }
    }
    Ok(Array {
        rows,
        cols,
        data: out,
    })
}

/// The text of `key`'s value in the header's Python dict literal.
fn dict_value<'h>(header: &'h str, key: &str) -> Result<&'h str, String> {
    let at = [format!("'{key}'"), format!("\"{key}\"")]
        .iter()
        .find_map(|k| header.find(k.as_str()).map(|i| i + k.len()))
        .ok_or_else(|| format!("the .npy header has no {key}"))?;
    let rest = header[at..].trim_start();
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| format!("the .npy header's {key} has no value"))?
        .trim_start();
    let len = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)
    } else {
        rest.find([',', '}'])
    }
    .ok_or_else(|| format!("the .npy header's {key} does not end"))?;
    Ok(rest[..len].trim())
}

/// Writes `array` as `.npy` 1.0, little-endian float32, C order.
pub fn write(out: &mut impl Write, array: &Array) -> std::io::Result<()> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        array.rows, array.cols
    );
    // Magic, version, length and header together a multiple of 64 bytes, ending in \n.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    out.write_all(MAGIC)?;
    out.write_all(&[1, 0])?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    for v in &array.data {
        out.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
            if fortran { "True" } else { "False" }
        );
        let mut out = MAGIC.to_vec();
        out.extend([1, 0]);
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn round_trips_and_reads_numpys_variants() {
        let a = Array {
            rows: 3,
            cols: 2,
            data: vec![1.0, -2.5, 3.0, 4.0, 5.5, f32::MAX],
        };
        let mut bytes = Vec::new();
        write(&mut bytes, &a).unwrap();
        assert_eq!((bytes.len() - 6 * 4) % 64, 0, "header padded to 64 bytes");
        assert_eq!(parse(&bytes).unwrap(), a);

        // float64, Fortran order (column by column), one dimension, big-endian.
        let f64s: Vec<u8> = [1.0f64, 3.0, 5.5, -2.5, 4.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let b = parse(&file("<f8", true, "(3, 2)", &f64s)).unwrap();
        assert_eq!(b.data, vec![1.0, -2.5, 3.0, 4.0, 5.5, 6.0]);
        let one = parse(&file(">f4", false, "(2,)", &[63, 128, 0, 0, 64, 0, 0, 0])).unwrap();
        assert_eq!((one.rows, one.cols, one.data), (2, 1, vec![1.0, 2.0]));
    }

    #[test]
    fn refuses_what_it_cannot_read_with_the_reason() {
        let four = [0u8; 16];
        for (bytes, says) in [
            (b"PK\x03\x04 a zip".to_vec(), "not a NumPy"),
            (file("<i8", false, "(2,)", &four), "float32 or float64"),
            (
                file("<f4", false, "(2, 3)", &four),
                "needs 24 data bytes, the file has 16",
            ),
            (file("<f4", false, "(2, 2, 1)", &four), "2 dimensions"),
            (
                file("<f4", false, "(99999999999999999999, 2)", &four),
                "not a list of sizes",
            ),
            (
                file("<f4", false, "(4611686018427387904, 4)", &four),
                "data bytes",
            ),
            (file("<f4", false, "(2, 2)", &four[..15]), "the file has 15"),
            (
                file("<f4", false, "(99999999999, 0)", &[]),
                "no images or no units",
            ),
        ] {
            let e = parse(&bytes).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
        let mut long = file("<f4", false, "(1,)", &[0; 4]);
        long[8] = 0xff;
        long[9] = 0xff;
        assert!(parse(&long).unwrap_err().contains("longer than the file"));
    }
}
