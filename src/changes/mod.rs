//! What changed since the last build: git history (`git`) and input digests (`digest`).

mod digest;
mod git;

pub use digest::{
    DIGEST_FORMAT, DigestError, Digests, FileHash, compute as compute_digests, hash_file,
    hash_files,
};
pub use git::{
    ChangeBase, ChangeRequest, ChangeSet, GitError, RefName, RepositoryTags, branch_names,
    detect_changes, local_git, ref_name, repository_tags,
};
