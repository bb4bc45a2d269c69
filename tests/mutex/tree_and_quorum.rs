//! Raymond's tree algorithm and Maekawa's quorums (filled in with those algorithms).
