//! Adding data objects to an existing SIF as sif/v2's `AddObject` does, planned completely
//! before anything is written, and written so that a failure leaves the file as it was.

use std::io::{Read, Seek, SeekFrom, Write};

use crate::format::{
    DESCRIPTOR_SIZE, Descriptor, EXTRA_LEN, FormatError, GO_ZERO_TIME, GROUP_MASK, HEADER_SIZE,
    Header, NAME_LEN, Sif,
};

/// What [`AppendPlan::apply`] writes to: a file, or a test double that fails on demand.
pub trait Storage: Read + Write + Seek {
    fn byte_len(&mut self) -> std::io::Result<u64>;
    fn set_len(&mut self, len: u64) -> std::io::Result<()>;
    /// Flushes data (and, with `all`, metadata) to the device.
    fn sync(&mut self, all: bool) -> std::io::Result<()>;
}

impl Storage for std::fs::File {
    fn byte_len(&mut self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        std::fs::File::set_len(self, len)
    }
    fn sync(&mut self, all: bool) -> std::io::Result<()> {
        if all {
            self.sync_all()
        } else {
            self.sync_data()
        }
    }
}

/// A data object to add, with the descriptor fields the caller chooses.
#[derive(Debug, Clone)]
pub struct NewObject {
    pub datatype: i32,
    /// Group id without the mask; 0 for none.
    pub group: u32,
    pub link: u32,
    pub name: String,
    pub extra: [u8; EXTRA_LEN],
    pub data: Vec<u8>,
}

/// Everything that appending objects writes, computed before anything is written: the
/// objects' bytes from `data_offset`, their descriptor slots and the header.
#[derive(Debug, Clone)]
pub struct AppendPlan {
    pub data_offset: u64,
    pub data: Vec<u8>,
    /// File offset of each slot written, with its new descriptor.
    pub descriptors: Vec<(u64, Descriptor)>,
    pub header: Header,
}

impl Sif {
    /// Plans adding `objects`, one after the other, the way sif/v2's `AddObject` does each:
    /// into the first slot after the leading used ones, id = slot + 1, data right after the
    /// furthest object end, the time `now` (Go's zero time for a deterministic image), the
    /// header's counts and modification time updated.
    pub fn plan_append(
        &self,
        objects: Vec<NewObject>,
        now: i64,
    ) -> Result<AppendPlan, FormatError> {
        let time = if self.header.is_deterministic() {
            GO_ZERO_TIME
        } else {
            now
        };
        let mut used: Vec<bool> = self.descriptors.iter().map(|d| d.used).collect();
        let data_start = self
            .used()
            .map(|d| d.offset + d.size)
            .fold(self.header.data_offset, i64::max);
        let mut data_end = data_start;
        let mut data = Vec::new();
        let mut header = self.header.clone();
        let mut descriptors = Vec::new();
        for object in objects {
            let slot = used.iter().take_while(|&&u| u).count();
            if slot >= used.len() {
                return Err(FormatError::NoFreeDescriptor(self.header.descriptors_total));
            }
            if object.name.len() > NAME_LEN {
                return Err(FormatError::Corrupt(format!(
                    "object name longer than {NAME_LEN} bytes"
                )));
            }
            used[slot] = true;
            let size = object.data.len() as i64;
            let mut name = [0; NAME_LEN];
            name[..object.name.len()].copy_from_slice(object.name.as_bytes());
            let descriptor = Descriptor {
                datatype: object.datatype,
                used: true,
                id: slot as u32 + 1,
                groupid: object.group | GROUP_MASK,
                link: object.link,
                offset: data_end,
                size,
                size_with_padding: size,
                created_at: time,
                modified_at: time,
                uid: 0,
                gid: 0,
                name,
                extra: object.extra,
            };
            let slot_offset =
                self.header.descriptors_offset as u64 + (slot * DESCRIPTOR_SIZE) as u64;
            descriptors.push((slot_offset, descriptor));
            data.extend_from_slice(&object.data);
            data_end += size;
            header.descriptors_free -= 1;
            header.data_size = data_end - header.data_offset;
            header.modified_at = time;
        }
        Ok(AppendPlan {
            data_offset: data_start as u64,
            data,
            descriptors,
            header,
        })
    }
}

impl AppendPlan {
    /// Writes the plan into `file` (the image it was planned from) and flushes it to disk.
    ///
    /// On any write error the bytes it overwrote are put back and the file is cut to its
    /// old length, so a failure leaves the image byte-identical. The data goes first and the
    /// header last, so even a crash between them leaves an image whose header still counts
    /// the old objects.
    pub fn apply<S: Storage>(&self, file: &mut S) -> std::io::Result<()> {
        let old_len = file.byte_len()?;
        let saved = self.save(file, old_len)?;
        match self.write(file) {
            Ok(()) => Ok(()),
            Err(err) => {
                // Best effort: the write error is the one to report.
                for (offset, bytes) in &saved {
                    let _ = file
                        .seek(SeekFrom::Start(*offset))
                        .and_then(|_| file.write_all(bytes));
                }
                let _ = file.set_len(old_len).and_then(|()| file.sync(true));
                Err(err)
            }
        }
    }

    /// The current bytes of every region [`AppendPlan::write`] overwrites.
    fn save<S: Storage>(&self, file: &mut S, len: u64) -> std::io::Result<Vec<(u64, Vec<u8>)>> {
        let regions = std::iter::once((self.data_offset, self.data.len() as u64))
            .chain(
                self.descriptors
                    .iter()
                    .map(|(offset, _)| (*offset, DESCRIPTOR_SIZE as u64)),
            )
            .chain(std::iter::once((0, HEADER_SIZE as u64)));
        let mut saved = Vec::new();
        for (offset, size) in regions {
            let end = (offset + size).min(len);
            if offset >= end {
                continue;
            }
            let mut bytes = vec![0; (end - offset) as usize];
            file.seek(SeekFrom::Start(offset))?;
            file.read_exact(&mut bytes)?;
            saved.push((offset, bytes));
        }
        Ok(saved)
    }

    fn write<S: Storage>(&self, file: &mut S) -> std::io::Result<()> {
        file.seek(SeekFrom::Start(self.data_offset))?;
        file.write_all(&self.data)?;
        file.sync(false)?;
        for (offset, descriptor) in &self.descriptors {
            file.seek(SeekFrom::Start(*offset))?;
            file.write_all(&descriptor.to_bytes())?;
        }
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&self.header.to_bytes())?;
        file.sync(true)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::format::DATA_SIGNATURE;
    use crate::write::{ImageSpec, ObjectSpec, write_image};

    /// An in-memory file whose writes fail once `budget` bytes have been written.
    struct Failing {
        inner: Cursor<Vec<u8>>,
        budget: usize,
        failing: bool,
    }

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.inner.read(buf)
        }
    }
    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.failing && buf.len() > self.budget {
                let n = self.budget;
                self.budget = 0;
                if n == 0 {
                    // The failure is one-shot: the rollback's writes must go through.
                    self.failing = false;
                    return Err(std::io::Error::other("disk full"));
                }
                return self.inner.write(&buf[..n]);
            }
            self.budget = self.budget.saturating_sub(buf.len());
            self.inner.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Seek for Failing {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.inner.seek(pos)
        }
    }
    impl Storage for Failing {
        fn byte_len(&mut self) -> std::io::Result<u64> {
            Ok(self.inner.get_ref().len() as u64)
        }
        fn set_len(&mut self, len: u64) -> std::io::Result<()> {
            self.inner.get_mut().resize(len as usize, 0);
            Ok(())
        }
        fn sync(&mut self, _all: bool) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn image() -> Vec<u8> {
        write_image(&ImageSpec {
            id: [7; 16],
            time: 1,
            arch: *b"02\0",
            objects: vec![ObjectSpec {
                datatype: crate::format::DATA_GENERIC_JSON,
                name: "a".to_owned(),
                extra: Vec::new(),
                data: vec![1; 100],
            }],
        })
    }

    fn signature() -> NewObject {
        NewObject {
            datatype: DATA_SIGNATURE,
            group: 0,
            link: 1 | GROUP_MASK,
            name: String::new(),
            extra: [0; EXTRA_LEN],
            data: vec![9; 3000],
        }
    }

    #[test]
    fn a_write_failing_anywhere_leaves_the_file_byte_identical() {
        let original = image();
        let sif = Sif::read(&mut Cursor::new(original.clone())).unwrap();
        let plan = sif.plan_append(vec![signature()], 5).unwrap();
        // Fail in the data, in the descriptor, in the header.
        for budget in [0, 1500, 3000, 3000 + 100, 3000 + DESCRIPTOR_SIZE + 64] {
            let mut file = Failing {
                inner: Cursor::new(original.clone()),
                budget,
                failing: true,
            };
            assert!(plan.apply(&mut file).is_err(), "budget {budget}");
            assert!(file.inner.get_ref() == &original, "budget {budget}");
        }
        let mut file = Failing {
            inner: Cursor::new(original.clone()),
            budget: usize::MAX,
            failing: false,
        };
        plan.apply(&mut file).unwrap();
        let after = Sif::read(&mut file.inner).unwrap();
        assert!(after.is_signed());
        assert_eq!(after.header.descriptors_free, 46);
        assert_eq!(after.header.modified_at, 5);
    }
}
