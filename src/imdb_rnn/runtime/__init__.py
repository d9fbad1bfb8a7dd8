"""The ground floor: params.yaml's checks, one-line errors, atomic and staged writes, backends and devices."""
