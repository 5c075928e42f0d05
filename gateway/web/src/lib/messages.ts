/**
 * What the pages say about the alliance's words, in Chinese and English: tiers, categories, the error
 * catalogue (sdk/citycredit/errors.py; its `title` is the English here, its `title_zh` the Chinese where
 * it has one; tests/integration/web/test_messages.py keeps the two in step) and the reasons a decision
 * gives (DESIGN §6), worded for the person at the counter.
 */

export type Pair = readonly [zh: string, en: string];

export const TIERS: Record<string, Pair> = {
  RESTRICTED: ["失信", "Restricted"],
  NEEDS_IMPROVEMENT: ["待提高", "Needs improvement"],
  FAIR: ["一般", "Fair"],
  GOOD: ["良好", "Good"],
  EXCELLENT: ["优秀", "Excellent"],
  OUTSTANDING: ["极好", "Outstanding"],
};
export const TIER_ORDER = Object.keys(TIERS);

export const CATEGORIES: Record<string, Pair> = {
  parking: ["停车", "Parking"],
  scenic_spot: ["景区", "Scenic spots"],
  library: ["图书馆", "Libraries"],
  public_transport: ["公共交通", "Public transport"],
  public_bike: ["公共自行车", "Public bikes"],
  hospital: ["医院", "Hospitals"],
  hotel: ["酒店", "Hotels"],
  dining: ["餐饮", "Dining"],
  fitness: ["健身", "Fitness"],
  housekeeping: ["家政", "Housekeeping"],
  housing_fund: ["公积金", "Housing fund"],
  rental: ["租房", "Rental"],
  other: ["其他", "Other"],
};

export const PERIODS: Record<string, Pair> = {
  day: ["每天", "a day"], week: ["每周", "a week"], month: ["每月", "a month"], year: ["每年", "a year"],
};

/** The error catalogue: code → [Chinese, English]. */
export const ERRORS: Record<string, Pair> = {
  CC_TOO_LONG: ["码超过 1,024 个字符", "the code is longer than 1,024 characters"],
  CC_PREFIX: ["这不是信用码（应以 CC1: 或 CP1: 开头）", "the code does not start with CC1:"],
  CC_BASE45: ["码的编码（Base45）无效", "the code is not valid Base45"],
  CC_MALFORMED: ["码的内容格式错误", "the code's contents are malformed"],
  CC_KEY_UNKNOWN: ["信任数据中没有签发此码的密钥", "no key in the trust bundle has this kid"],
  CC_SIGNATURE_INVALID: ["签名无效，此码可能被篡改或伪造", "the signature does not verify"],
  CC_KEY_NOT_VALID: ["签发时该签名密钥不在有效期内", "the signing key was not valid when the code was issued"],
  CC_CITY_MISMATCH: ["码所写城市与签名密钥所属城市不符",
    "the code names a city other than the one that owns the signing key"],
  CC_EXPIRED: ["信用码已过期，请持码人刷新后重新出示", "the code has expired"],
  CC_NOT_YET_VALID: ["信用码尚未生效，请检查设备时间", "the code is not valid yet"],
  CC_REVOKED: ["此信用码已被发码城市撤销", "the code has been revoked"],
  CC_SUSPENDED: ["此信用码暂停使用（申诉或信用承诺期间），请咨询发码城市",
    "the code is suspended (under appeal or a credit commitment); ask the holder's city"],
  CC_DEVICE_PROOF_REQUIRED: ["此信用码绑定持码人手机，请扫描手机上实时刷新的码",
    "this code is bound to the holder's phone: scan the rotating code it shows, not a copy"],
  CC_DEVICE_SIGNATURE_INVALID: ["出示码并非由持码人设备签名", "the presentation was not signed by the holder's device"],
  CC_PRESENTATION_STALE: ["出示码已过时（可能是截图，或手机时间不准）",
    "the presentation is outside its time window (a screenshot, or the phone's clock is wrong)"],
  CC_PRESENTATION_REPLAYED: ["此出示码已在本处扫描过，请持码人重新出示",
    "this presentation was already scanned here; ask the holder to show the code again"],
  CC_BUNDLE_MALFORMED: ["信任数据格式错误", "the trust bundle is malformed"],
  CC_BUNDLE_THRESHOLD: ["信任数据缺少足够的治理签名",
    "the trust bundle lacks the required number of valid governance signatures"],
  CC_BUNDLE_ROLLBACK: ["信任数据比已接受的版本旧，或与之冲突",
    "the trust bundle is older than, or conflicts with, one already accepted"],
  CC_BUNDLE_STALE: ["信任数据已过期且超出离线宽限期，请联网同步",
    "the trust bundle has expired beyond the offline grace period"],
  CC_LOCAL_RECORD: ["本地信用记录超出范围或格式错误", "the local credit record is out of range or malformed"],
  CC_SCHEME_INVALID: ["信用分方案定义无效", "the scheme definition is invalid"],
  CC_INVALID_ARGUMENT: ["请求无效", "the request is invalid"],
  CC_NOT_FOUND: ["未找到", "not found"],
  CC_CITY_UNKNOWN: ["该城市不是联盟成员", "the city is not a member of the alliance"],
  CC_OFFER_UNKNOWN: ["没有这项优惠", "no such offer"],
  CC_UNAUTHENTICATED: ["密钥缺失、无效或已被收回", "missing, unknown or revoked credentials"],
  CC_PERMISSION_DENIED: ["此密钥无权执行该操作", "these credentials may not do this"],
  CC_RATE_LIMITED: ["请求过于频繁，请稍后再试", "too many requests for this key"],
  CC_PAYLOAD_TOO_LARGE: ["请求内容过大", "the request body is too large"],
  CC_CONFLICT: ["请求与之前的请求冲突", "the request conflicts with an earlier one"],
  CC_IDEMPOTENCY_MISMATCH: ["此幂等键已用于另一笔请求", "this idempotency key was used for a different request"],
  CC_RETIRED: ["此操作已停用", "this operation is retired"],
  CC_UNAVAILABLE: ["服务暂不可用", "the service is unavailable"],
  CC_INTERNAL: ["内部错误", "internal error"],
};

/** The page's own failures, beside the catalogue's. */
export const LOCAL_ERRORS: Record<string, Pair> = {
  NETWORK: ["无法连接网关（可能已离线）", "the gateway cannot be reached (offline?)"],
  NO_QR: ["图片中没有找到二维码", "no QR code was found in the picture"],
  NOT_AN_IMAGE: ["无法读取此文件，请选择照片或截图", "this file cannot be read; pick a photo or a screenshot"],
  CAMERA_DENIED: ["无法使用相机（未获授权，或此设备没有相机）", "the camera cannot be used (not allowed, or none here)"],
  CAMERA_INSECURE: ["浏览器只在 HTTPS 页面上开放相机，请改用“选择图片”",
    "browsers open the camera only on HTTPS pages; use “Pick a picture” instead"],
  NO_TRUST: ["尚无信任数据：首次使用需联网同步一次", "no trust set yet: the first use needs the network once"],
  NEEDS_NETWORK: ["核销此优惠需要联网；恢复网络后再试", "redeeming this offer needs the network; try again when online"],
  EMPTY: ["请先扫码或输入信用码", "scan or enter a code first"],
};

/** Why a decision said no. */
export const REASONS: Record<string, Pair> = {
  TIER_TOO_LOW: ["持码人的信用等级低于此优惠的最低等级。", "The holder's tier is below this offer's minimum tier."],
  NO_AGREEMENT: ["持码人所在城市与本市之间没有覆盖此类服务的有效互认协议，不能享受同城待遇。",
    "No agreement in force between the holder's home city and this city covers this kind of offer."],
  OFFER_LOCAL_ONLY: ["此优惠仅限本市居民，不向外地持码人开放。", "This offer is for residents of this city only."],
  QUOTA_EXHAUSTED: ["持码人本周期的次数已用完。", "The holder has used up this offer's quota for the period."],
  OFFER_NOT_ACTIVE: ["此优惠当前不在有效期内。", "This offer is not within its validity period now."],
  WRONG_AUDIENCE: ["此码是为其他城市开具的；请持码人切换到本市后重新出示。",
    "The code was made for another city; ask the holder to switch to this city and show it again."],
  NO_RULES: ["本市尚未为此类服务制定同城待遇规则，不会默认给予。",
    "This city has no same-city rules for this kind of offer, so nothing is granted by default."],
  CODE_EXPIRED: ["信用码已过期，请持码人刷新后重新出示。", "The code has expired; ask the holder to refresh it."],
  CODE_NOT_YET_VALID: ["信用码尚未生效，请检查手机时间。", "The code is not valid yet; check the phone's clock."],
  CODE_REVOKED: ["信用码已被发码城市撤销。", "The issuing city has revoked this code."],
  CODE_SUSPENDED: ["信用码暂停使用（申诉或信用承诺期间）。", "The code is suspended (under appeal or a credit commitment)."],
  CODE_INVALID: ["信用码未通过核验。", "The code did not pass verification."],
  OFFER_UNKNOWN: ["找不到此优惠，可能已下线；请刷新。", "There is no such offer (it may have been withdrawn); reload."],
};

const unknown = (code: string): Pair => [code, code];
export const errorText = (code: string): Pair => ERRORS[code] ?? LOCAL_ERRORS[code] ?? unknown(code);
export const reasonText = (reason: string): Pair => REASONS[reason] ?? unknown(reason);
export const tierText = (tier: string): Pair => TIERS[tier] ?? unknown(tier);
export const categoryText = (category: string): Pair => CATEGORIES[category] ?? unknown(category);
