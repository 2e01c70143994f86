/*
 * fake_nvml.c - a test stand-in for NVIDIA's NVML library (libnvidia-ml.so.1).
 *
 * Build:  gcc -shared -fPIC -O1 -o libnvidia-ml.so.1 fake_nvml.c
 *
 * The real `pynvml` module (PyPI: nvidia-ml-py) loads it with
 * ctypes.CDLL("libnvidia-ml.so.1") once LD_LIBRARY_PATH points at the folder
 * holding the built file.  It exports the C symbols pynvml (and hand-written
 * ctypes code) resolve for GPU discovery, with NVML's signatures and return
 * codes.  Everything is driven by environment variables read at call time; an
 * empty value means the same as unset:
 *
 *   FAKE_NVML_DRIVER      driver version string         (default "550.54.14")
 *   FAKE_NVML_CUDA        CUDA driver version, e.g. 12040
 *                         (default: derived from the driver's major version)
 *   FAKE_NVML_GPUS        "MAJOR.MINOR:Name;MAJOR.MINOR:Name..." (unset -> 0 GPUs)
 *   FAKE_NVML_INIT_ERROR  int: nvmlInit* returns this code (0 = succeed)
 *   FAKE_NVML_CC_ERROR    int: nvmlDeviceGetCudaComputeCapability returns it
 *   FAKE_NVML_LOG         file path: one line per exported call is appended
 *
 * A malformed FAKE_NVML_GPUS, or a non-integer *_ERROR / FAKE_NVML_CUDA, makes
 * the affected call return NVML_ERROR_UNKNOWN and prints a note to stderr, so
 * a broken test set-up fails loudly instead of silently looking like "no GPU".
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

/* ---- NVML return codes (values from nvml.h) ---------------------------- */
typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_ALREADY_INITIALIZED 5
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_INSUFFICIENT_POWER 8
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_TIMEOUT 10
#define NVML_ERROR_IRQ_ISSUE 11
#define NVML_ERROR_LIBRARY_NOT_FOUND 12
#define NVML_ERROR_FUNCTION_NOT_FOUND 13
#define NVML_ERROR_CORRUPTED_INFOROM 14
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_ERROR_RESET_REQUIRED 16
#define NVML_ERROR_OPERATING_SYSTEM 17
#define NVML_ERROR_LIB_RM_VERSION_MISMATCH 18
#define NVML_ERROR_IN_USE 19
#define NVML_ERROR_MEMORY 20
#define NVML_ERROR_NO_DATA 21
#define NVML_ERROR_UNKNOWN 999

#define FAKE_MAX_GPUS 64
#define FAKE_NAME_SIZE 96 /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define FAKE_DRIVER_SIZE 80 /* NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE */
#define FAKE_DEFAULT_DRIVER "550.54.14"
#define NVIDIA_PCI_VENDOR 0x10DEu

/* ---- Device handles ------------------------------------------------------ */
/* nvmlDevice_t is an opaque pointer; ours point into this static table. */
typedef struct fake_device {
    unsigned int index;
    int cc_major;
    int cc_minor;
    char name[FAKE_NAME_SIZE];
} fake_device_t;
typedef fake_device_t *nvmlDevice_t;

/* nvmlPciInfo_t as used by nvmlDeviceGetPciInfo_v2/_v3 (nvml.h >= 9.0). */
typedef struct {
    char busIdLegacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId; /* (device id << 16) | vendor id */
    unsigned int pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

/* The pre-9.0 layout used by the unversioned nvmlDeviceGetPciInfo symbol. */
typedef struct {
    char busId[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId;
    unsigned int pciSubSystemId;
    unsigned int reserved0;
    unsigned int reserved1;
    unsigned int reserved2;
    unsigned int reserved3;
} nvmlPciInfo_v1_t;

static fake_device_t g_devices[FAKE_MAX_GPUS];
static int g_init_count = 0;

/* ---- Helpers --------------------------------------------------------------- */

/* getenv, treating an empty value as unset. */
static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

static void log_call(const char *fn)
{
    const char *path = env_value("FAKE_NVML_LOG");
    FILE *f;
    if (!path)
        return;
    f = fopen(path, "a");
    if (!f)
        return;
    fprintf(f, "%s\n", fn);
    fclose(f);
}

/* Parse a whole string as an int. Returns 0 on success. */
static int parse_int(const char *s, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 0);
    while (*end && isspace((unsigned char)*end))
        end++;
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

/* If env var `name` holds an error code, store it in *code and return 1. */
static int env_error(const char *name, nvmlReturn_t *code)
{
    const char *v = env_value(name);
    long n;
    if (!v)
        return 0;
    if (parse_int(v, &n) != 0) {
        fprintf(stderr, "fake_nvml: %s=%s is not an integer\n", name, v);
        *code = NVML_ERROR_UNKNOWN;
    } else {
        *code = (nvmlReturn_t)n;
    }
    return 1;
}

static const char *driver_version(void)
{
    const char *v = env_value("FAKE_NVML_DRIVER");
    return v ? v : FAKE_DEFAULT_DRIVER;
}

/* Highest CUDA version each driver branch supports (CUDA toolkit release notes). */
static int cuda_for_driver(const char *driver)
{
    static const struct { int min_major; int cuda; } table[] = {
        {590, 13010}, {580, 13000}, {575, 12090}, {570, 12080}, {565, 12070},
        {560, 12060}, {555, 12050}, {550, 12040}, {545, 12030}, {535, 12020},
        {530, 12010}, {525, 12000}, {520, 11080}, {515, 11070}, {510, 11060},
        {495, 11050}, {470, 11040}, {465, 11030}, {460, 11020}, {455, 11010},
        {450, 11000}, {440, 10020}, {418, 10010}, {410, 10000}, {396, 9020},
    };
    int major = atoi(driver);
    size_t i;
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (major >= table[i].min_major)
            return table[i].cuda;
    return 9000;
}

static nvmlReturn_t cuda_version(int *out)
{
    const char *v = env_value("FAKE_NVML_CUDA");
    long n;
    if (!v) {
        *out = cuda_for_driver(driver_version());
        return NVML_SUCCESS;
    }
    if (parse_int(v, &n) != 0) {
        fprintf(stderr, "fake_nvml: FAKE_NVML_CUDA=%s is not an integer\n", v);
        return NVML_ERROR_UNKNOWN;
    }
    *out = (int)n;
    return NVML_SUCCESS;
}

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Re-read FAKE_NVML_GPUS into g_devices. Returns the count, or -1 if malformed. */
static int load_devices(void)
{
    const char *spec = env_value("FAKE_NVML_GPUS");
    char *copy, *saveptr = NULL, *entry;
    int count = 0;

    memset(g_devices, 0, sizeof(g_devices));
    if (!spec)
        return 0;
    copy = strdup(spec);
    if (!copy)
        return -1;
    for (entry = strtok_r(copy, ";", &saveptr); entry;
         entry = strtok_r(NULL, ";", &saveptr)) {
        char *item = trim(entry), *colon, *name, *end;
        long major, minor;
        if (!*item)
            continue; /* tolerate "a;;b" and a trailing ';' */
        colon = strchr(item, ':');
        if (!colon || count >= FAKE_MAX_GPUS)
            goto bad;
        *colon = '\0';
        name = trim(colon + 1);
        errno = 0;
        major = strtol(item, &end, 10);
        if (errno || end == item || *end != '.')
            goto bad;
        item = end + 1;
        minor = strtol(item, &end, 10);
        if (errno || end == item || *trim(end) != '\0' || !*name)
            goto bad;
        g_devices[count].index = (unsigned int)count;
        g_devices[count].cc_major = (int)major;
        g_devices[count].cc_minor = (int)minor;
        snprintf(g_devices[count].name, sizeof(g_devices[count].name), "%s", name);
        count++;
    }
    free(copy);
    return count;
bad:
    fprintf(stderr, "fake_nvml: malformed FAKE_NVML_GPUS=%s "
                    "(want MAJOR.MINOR:Name;...)\n", spec);
    free(copy);
    return -1;
}

/* Validate a handle against the current device list. */
static nvmlReturn_t check_handle(nvmlDevice_t device)
{
    int count;
    if (g_init_count <= 0)
        return NVML_ERROR_UNINITIALIZED;
    count = load_devices();
    if (count < 0)
        return NVML_ERROR_UNKNOWN;
    if (device < g_devices || device >= g_devices + count)
        return NVML_ERROR_INVALID_ARGUMENT;
    return NVML_SUCCESS;
}

static nvmlReturn_t copy_string(char *dst, unsigned int length, const char *src)
{
    if (!dst)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(src) + 1 > length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return NVML_SUCCESS;
}

/* A few real PCI device ids so PCI info looks plausible; otherwise a generic one. */
static unsigned int pci_device_id(const fake_device_t *d)
{
    static const struct { const char *name; unsigned int id; } table[] = {
        {"NVIDIA GeForce RTX 3090", 0x2204}, {"NVIDIA GeForce RTX 4090", 0x2684},
        {"NVIDIA H100 80GB HBM3", 0x2330},   {"NVIDIA A100-SXM4-80GB", 0x20B2},
        {"Tesla T4", 0x1EB8},                {"Tesla V100-SXM2-16GB", 0x1DB1},
    };
    size_t i;
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(d->name, table[i].name) == 0)
            return table[i].id;
    return 0x2000u + d->index;
}

static void fill_pci(const fake_device_t *d, nvmlPciInfo_t *pci)
{
    memset(pci, 0, sizeof(*pci));
    pci->domain = 0;
    pci->bus = d->index + 1;
    pci->device = 0;
    pci->pciDeviceId = (pci_device_id(d) << 16) | NVIDIA_PCI_VENDOR;
    pci->pciSubSystemId = 0x147010DEu;
    snprintf(pci->busIdLegacy, sizeof(pci->busIdLegacy), "%04X:%02X:%02X.0",
             pci->domain, pci->bus, pci->device);
    snprintf(pci->busId, sizeof(pci->busId), "%08X:%02X:%02X.0",
             pci->domain, pci->bus, pci->device);
}

/* ---- Initialisation ------------------------------------------------------ */

static nvmlReturn_t do_init(void)
{
    nvmlReturn_t code;
    if (env_error("FAKE_NVML_INIT_ERROR", &code) && code != NVML_SUCCESS)
        return code;
    g_init_count++;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlInit(void)
{
    log_call("nvmlInit");
    return do_init();
}

EXPORT nvmlReturn_t nvmlInit_v2(void)
{
    log_call("nvmlInit_v2");
    return do_init();
}

EXPORT nvmlReturn_t nvmlInitWithFlags(unsigned int flags)
{
    (void)flags;
    log_call("nvmlInitWithFlags");
    return do_init();
}

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    log_call("nvmlShutdown");
    if (g_init_count <= 0)
        return NVML_ERROR_UNINITIALIZED;
    g_init_count--;
    return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    log_call("nvmlErrorString");
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_IRQ_ISSUE: return "Interrupt Request Issue";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires restart";
    case NVML_ERROR_OPERATING_SYSTEM: return "The operating system has blocked the request.";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
    case NVML_ERROR_IN_USE: return "In use by another client";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_NO_DATA: return "No data";
    default: return "Unknown Error";
    }
}

/* ---- System queries --------------------------------------------------- */

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    log_call("nvmlSystemGetDriverVersion");
    if (g_init_count <= 0)
        return NVML_ERROR_UNINITIALIZED;
    return copy_string(version, length, driver_version());
}

EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)
{
    char buf[FAKE_DRIVER_SIZE + 16];
    int cuda;
    nvmlReturn_t ret;
    log_call("nvmlSystemGetNVMLVersion");
    if (g_init_count <= 0)
        return NVML_ERROR_UNINITIALIZED;
    ret = cuda_version(&cuda);
    if (ret != NVML_SUCCESS)
        return ret;
    /* Real format: "<CUDA major>.<driver version>", e.g. "12.550.54.14". */
    snprintf(buf, sizeof(buf), "%d.%s", cuda / 1000, driver_version());
    return copy_string(version, length, buf);
}

static nvmlReturn_t get_cuda_driver_version(int *cudaDriverVersion)
{
    if (!cudaDriverVersion)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (g_init_count <= 0)
        return NVML_ERROR_UNINITIALIZED;
    return cuda_version(cudaDriverVersion);
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion)
{
    log_call("nvmlSystemGetCudaDriverVersion");
    return get_cuda_driver_version(cudaDriverVersion);
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion)
{
    log_call("nvmlSystemGetCudaDriverVersion_v2");
    return get_cuda_driver_version(cudaDriverVersion);
}

/* ---- Device enumeration ----------------------------------------------- */

static nvmlReturn_t get_count(unsigned int *deviceCount)
{
    int count;
    if (!deviceCount)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (g_init_count <= 0)
        return NVML_ERROR_UNINITIALIZED;
    count = load_devices();
    if (count < 0)
        return NVML_ERROR_UNKNOWN;
    *deviceCount = (unsigned int)count;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount)
{
    log_call("nvmlDeviceGetCount");
    return get_count(deviceCount);
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount)
{
    log_call("nvmlDeviceGetCount_v2");
    return get_count(deviceCount);
}

static nvmlReturn_t get_handle(unsigned int index, nvmlDevice_t *device)
{
    int count;
    if (!device)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (g_init_count <= 0)
        return NVML_ERROR_UNINITIALIZED;
    count = load_devices();
    if (count < 0)
        return NVML_ERROR_UNKNOWN;
    if (index >= (unsigned int)count)
        return NVML_ERROR_INVALID_ARGUMENT;
    *device = &g_devices[index];
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    log_call("nvmlDeviceGetHandleByIndex");
    return get_handle(index, device);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    log_call("nvmlDeviceGetHandleByIndex_v2");
    return get_handle(index, device);
}

EXPORT nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index)
{
    nvmlReturn_t ret;
    log_call("nvmlDeviceGetIndex");
    if (!index)
        return NVML_ERROR_INVALID_ARGUMENT;
    ret = check_handle(device);
    if (ret != NVML_SUCCESS)
        return ret;
    *index = device->index;
    return NVML_SUCCESS;
}

/* ---- Per-device queries ------------------------------------------------ */

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    nvmlReturn_t ret;
    log_call("nvmlDeviceGetName");
    ret = check_handle(device);
    if (ret != NVML_SUCCESS)
        return ret;
    return copy_string(name, length, device->name);
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    char buf[96];
    nvmlReturn_t ret;
    log_call("nvmlDeviceGetUUID");
    ret = check_handle(device);
    if (ret != NVML_SUCCESS)
        return ret;
    snprintf(buf, sizeof(buf), "GPU-fa4e0000-0000-4000-8000-%012x", device->index);
    return copy_string(uuid, length, buf);
}

EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor)
{
    nvmlReturn_t ret;
    log_call("nvmlDeviceGetCudaComputeCapability");
    ret = check_handle(device);
    if (ret != NVML_SUCCESS)
        return ret;
    if (!major || !minor)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (env_error("FAKE_NVML_CC_ERROR", &ret) && ret != NVML_SUCCESS)
        return ret;
    *major = device->cc_major;
    *minor = device->cc_minor;
    return NVML_SUCCESS;
}

static nvmlReturn_t get_pci(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    nvmlReturn_t ret = check_handle(device);
    if (ret != NVML_SUCCESS)
        return ret;
    if (!pci)
        return NVML_ERROR_INVALID_ARGUMENT;
    fill_pci(device, pci);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    log_call("nvmlDeviceGetPciInfo_v3");
    return get_pci(device, pci);
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    log_call("nvmlDeviceGetPciInfo_v2");
    return get_pci(device, pci);
}

/* Legacy entry point: writes the smaller pre-9.0 struct. */
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_v1_t *pci)
{
    nvmlPciInfo_t full;
    nvmlReturn_t ret;
    log_call("nvmlDeviceGetPciInfo");
    ret = get_pci(device, &full);
    if (ret != NVML_SUCCESS)
        return ret;
    if (!pci)
        return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof(*pci));
    memcpy(pci->busId, full.busIdLegacy, sizeof(pci->busId));
    pci->domain = full.domain;
    pci->bus = full.bus;
    pci->device = full.device;
    pci->pciDeviceId = full.pciDeviceId;
    pci->pciSubSystemId = full.pciSubSystemId;
    return NVML_SUCCESS;
}
