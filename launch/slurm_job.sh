# shellcheck shell=bash
# What every launch/*.slurm script does before its own work: enter the repository, read the site settings, and,
# run outside a job, submit itself. Sourced right after the script has found the repository:
#
#   if [[ -n ${SLURM_JOB_ID:-} ]]; then ROOT=${IAD_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
#   else ROOT=${IAD_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}; fi
#   source "$ROOT/launch/slurm_job.sh" || { echo "…: $ROOT is not the repository …" >&2; exit 2; }
#   slurm_job_enter "$ROOT"                                    # cd, IAD_ROOT, launch/site.env
#   slurm_job_submit_self train.slurm [SBATCH OPTION…] -- "${ARGS[@]}"   # outside a job only: exec sbatch
#
# The repository is found by each script, not here: inside a job sbatch has copied the script to a spool
# directory, so only the submit directory (or IAD_ROOT) says where this file is.

# Enter the repository ROOT, export it as IAD_ROOT, and source the site settings (IAD_SITE_ENV, default
# launch/site.env) when there are any: on the submit host and again at the start of the job.
slurm_job_enter() {
    cd "$1" || return
    export IAD_ROOT=$1
    local site_env=${IAD_SITE_ENV:-launch/site.env}
    if [[ -f $site_env ]]; then
        # shellcheck source=/dev/null  # site-specific; launch/site.env.example documents it
        source "$site_env"
    fi
}

# Outside a job, replace this process with `sbatch [OPTION…] launch/SCRIPT ARG…` (the log goes to
# $IAD_OUTPUT_ROOT/slurm/<job name>-<job id>.out unless SBATCH_OUTPUT says otherwise). Inside a job, return.
slurm_job_submit_self() {
    [[ -z ${SLURM_JOB_ID:-} ]] || return 0
    local script=$1
    shift
    local submit=(sbatch)
    while (($#)) && [[ $1 != -- ]]; do
        submit+=("$1")
        shift
    done
    (($#)) && shift # the --
    if [[ -z ${SBATCH_OUTPUT:-} ]]; then
        mkdir -p "${IAD_OUTPUT_ROOT:-outputs}/slurm"
        submit+=(--output="${IAD_OUTPUT_ROOT:-outputs}/slurm/%x-%j.out")
    fi
    exec "${submit[@]}" "$IAD_ROOT/launch/$script" "$@"
}

# Whether URL answers an HTTP GET within TIMEOUT seconds (default 10): the judge's /health.
slurm_job_url_answers() {
    python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2]))' \
        "$1" "${2:-10}" 2>/dev/null
}
