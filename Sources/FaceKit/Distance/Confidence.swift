/// deepface's confidence calibration: per model and metric, a logistic fit
/// of distance to "same person", then a linear spread of its output into
/// 51...100 for a match and 0...49 for a non-match. The figures are deepface
/// 0.0.103's published calibration, carried over as data.
public enum ConfidenceCalibration {
    struct Fit: Sendable {
        let w: Double, b: Double, normalizer: Double
        let maxTrue: Double, minTrue: Double, maxFalse: Double, minFalse: Double
    }

    /// The confidence (0...100, two decimals) deepface reports for a distance.
    public static func confidence(distance: Double, model: String, metric: DistanceMetric, verified: Bool) -> Double {
        if distance <= 0 { return verified ? 100 : 0 }
        guard let fit = table[model]?[metric] else { return verified ? 51 : 49 }
        var d = distance
        if fit.normalizer > 1 { d /= fit.normalizer }
        let z = fit.w * d + fit.b
        let sigmoid = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z))
        let raw = 100 * sigmoid
        let (minOriginal, maxOriginal, minTarget, maxTarget): (Double, Double, Double, Double) = verified
            ? (fit.minTrue, fit.maxTrue, max(51, fit.minTrue), 100)
            : (fit.minFalse, fit.maxFalse, 0, Double(min(49, Int(fit.maxFalse))))
        var spread = (raw - minOriginal) / (maxOriginal - minOriginal) * (maxTarget - minTarget) + minTarget
        if verified && spread < 51 { spread = 51 } else if !verified && spread > 49 { spread = 49 }
        spread = min(100, max(0, spread))
        return roundHalfEven(spread, places: 2)
    }

    /// Python's round(): half to even on the binary value.
    static func roundHalfEven(_ value: Double, places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (value * scale).rounded(.toNearestOrEven) / scale
    }

    static let table: [String: [DistanceMetric: Fit]] = [
        "VGG-Face": [
            .cosine: Fit(w: -6.61254026479904, b: 3.145549102667549, normalizer: 0.979183,
                        maxTrue: 88.28484099529868, minTrue: 20.787978733113846, maxFalse: 20.556681914175016, minFalse: 3.457832575746455),
            .euclidean: Fit(w: -6.505124425537925, b: 3.8912125488666436, normalizer: 1.399416,
                        maxTrue: 76.47012030708339, minTrue: 17.794898757517597, maxFalse: 16.443735520230746, minFalse: 6.82484246933999),
            .euclideanL2: Fit(w: -6.505124425537925, b: 3.8912125488666436, normalizer: 1.399416,
                        maxTrue: 76.47012030708339, minTrue: 17.794898757517597, maxFalse: 16.443735520230746, minFalse: 6.82484246933999),
            .angular: Fit(w: -5.035753663256314, b: 0.2961597285248822, normalizer: 0.493373,
                        maxTrue: 34.230717614698825, minTrue: 16.624506551373642, maxFalse: 15.49607745347531, minFalse: 10.080199045102233),
        ],
        "Facenet": [
            .cosine: Fit(w: -6.502269165856082, b: 1.679048923097668, normalizer: 1.206694,
                        maxTrue: 77.17253153662926, minTrue: 41.790002608273234, maxFalse: 20.618350202170916, minFalse: 0.7976712344840693),
            .euclidean: Fit(w: -6.716177467853723, b: 2.790978346203265, normalizer: 18.735288,
                        maxTrue: 74.76412617567517, minTrue: 40.4423755909089, maxFalse: 25.840858374979504, minFalse: 1.9356150486888306),
            .euclideanL2: Fit(w: -6.708710331202137, b: 2.9094193067398195, normalizer: 1.553508,
                        maxTrue: 75.45756719896039, minTrue: 40.4509428022908, maxFalse: 30.555931000001184, minFalse: 2.189644991619842),
            .angular: Fit(w: -6.371147050396505, b: 0.6766460615182355, normalizer: 0.56627,
                        maxTrue: 45.802357900723386, minTrue: 24.327312950719133, maxFalse: 16.95267765757785, minFalse: 5.063533287198758),
        ],
        "Facenet512": [
            .cosine: Fit(w: -5.868251768046832, b: 0.8674084834913275, normalizer: 1.384316,
                        maxTrue: 62.19495119465813, minTrue: 40.700922463435305, maxFalse: 39.96947059787277, minFalse: 0.6687247052303562),
            .euclidean: Fit(w: -6.742961485008033, b: 2.61949356815704, normalizer: 40.771751,
                        maxTrue: 75.20184708761875, minTrue: 23.391566956420913, maxFalse: 20.317410180868695, minFalse: 1.5930391784587872),
            .euclideanL2: Fit(w: -6.76040230078399, b: 3.0057651791652638, normalizer: 1.663921,
                        maxTrue: 78.73795056941638, minTrue: 23.492800781101295, maxFalse: 21.754795621979017, minFalse: 2.287349921316484),
            .angular: Fit(w: -6.487840122876141, b: 0.9536496647058516, normalizer: 0.625563,
                        maxTrue: 52.1215977454314, minTrue: 21.72372703119752, maxFalse: 20.734638325222512, minFalse: 4.290546073131373),
        ],
        "ArcFace": [
            .cosine: Fit(w: -6.586150423868342, b: 2.2617127737265186, normalizer: 1.22267,
                        maxTrue: 82.32544721731948, minTrue: 28.687745855666044, maxFalse: 17.210359124614925, minFalse: 1.306796127659645),
            .euclidean: Fit(w: -5.370594347027345, b: 0.6896763568574544, normalizer: 10.401334,
                        maxTrue: 43.042326442916284, minTrue: 19.048164749978937, maxFalse: 18.682892152590245, minFalse: 0.9185346995033978),
            .euclideanL2: Fit(w: -6.541948874098929, b: 3.2628963901283585, normalizer: 1.563758,
                        maxTrue: 74.93505228104696, minTrue: 21.800168694491585, maxFalse: 15.091078907730523, minFalse: 3.6296845343803894),
            .angular: Fit(w: -5.63344888288512, b: 0.5682159222314143, normalizer: 0.571477,
                        maxTrue: 40.81365081792457, minTrue: 18.409621072962818, maxFalse: 15.13985487535995, minFalse: 6.59169002231532),
        ],
        "GhostFaceNet": [
            .cosine: Fit(w: -6.595823624282929, b: 2.4180964556128584, normalizer: 1.155661,
                        maxTrue: 84.65757505749636, minTrue: 22.700531204915876, maxFalse: 15.08427020899693, minFalse: 1.5101757980158446),
            .euclidean: Fit(w: -6.506709483088198, b: 2.935230928728856, normalizer: 52.150135,
                        maxTrue: 73.09358661728027, minTrue: 24.63718600288871, maxFalse: 16.513245368123492, minFalse: 2.7345457334612155),
            .euclideanL2: Fit(w: -6.572852118241916, b: 3.3068829731570824, normalizer: 1.520303,
                        maxTrue: 75.95533899593255, minTrue: 20.08886780040665, maxFalse: 17.84278657570624, minFalse: 3.675727926946401),
            .angular: Fit(w: -5.588606771251277, b: 0.48845693581021543, normalizer: 0.549751,
                        maxTrue: 39.92978715270581, minTrue: 16.49081504576138, maxFalse: 16.143233933992967, minFalse: 7.018276839135204),
        ],
        "Dlib": [
            .cosine: Fit(w: -3.7618087798972293, b: -0.6908814404797111, normalizer: 0.200732,
                        maxTrue: 32.289077089161594, minTrue: 27.84268789569509, maxFalse: 27.803329512485526, minFalse: 19.061842082779275),
            .euclidean: Fit(w: -7.494007964438609, b: 3.9696154227506937, normalizer: 0.909856,
                        maxTrue: 89.6022157357575, minTrue: 37.63548146988899, maxFalse: 36.791885490113046, minFalse: 5.474065355413035),
            .euclideanL2: Fit(w: -7.104640497107913, b: 2.3288632189212457, normalizer: 0.633612,
                        maxTrue: 76.39948218795206, minTrue: 37.84998375132765, maxFalse: 36.56103592414769, minFalse: 10.222692344960938),
            .angular: Fit(w: -3.2116944601651727, b: -0.5970349913114966, normalizer: 0.205221,
                        maxTrue: 31.79313619700238, minTrue: 27.2527288169969, maxFalse: 27.18852931051015, minFalse: 22.163871613552466),
        ],
        "SFace": [
            .cosine: Fit(w: -6.531673506288863, b: 2.2217245506456895, normalizer: 1.147363,
                        maxTrue: 81.04135659361265, minTrue: 26.26225160110723, maxFalse: 23.62218403514688, minFalse: 1.3256149092319998),
            .euclidean: Fit(w: -5.922412546512467, b: 2.2306552793788903, normalizer: 18.826448,
                        maxTrue: 53.59440633088357, minTrue: 24.24534043569188, maxFalse: 24.000007447174763, minFalse: 2.4321858952665205),
            .euclideanL2: Fit(w: -6.561644724339029, b: 3.215600266169891, normalizer: 1.514835,
                        maxTrue: 72.39437183443313, minTrue: 22.25500614635702, maxFalse: 19.531386697831906, minFalse: 3.4024932531839815),
            .angular: Fit(w: -5.575609473928204, b: 0.421773496308517, normalizer: 0.547079,
                        maxTrue: 37.48563531943993, minTrue: 17.074673595288292, maxFalse: 16.40044990637247, minFalse: 6.732498767352633),
        ],
        "OpenFace": [
            .cosine: Fit(w: -2.932562678842587, b: -2.0582304636838518, normalizer: 0.884469,
                        maxTrue: 10.546657497687274, minTrue: 8.832401641007316, maxFalse: 8.535900401000742, minFalse: 0.9452381276992784),
            .euclidean: Fit(w: -5.829345103053105, b: 1.4390680732209533, normalizer: 1.330015,
                        maxTrue: 60.28549643159932, minTrue: 27.506182086242408, maxFalse: 27.058382251505012, minFalse: 1.2245483461697035),
            .euclideanL2: Fit(w: -5.82934526003372, b: 1.4390681633867946, normalizer: 1.330015,
                        maxTrue: 60.28549793162577, minTrue: 27.506182591043363, maxFalse: 27.058382739158215, minFalse: 1.224548265353685),
            .angular: Fit(w: -0.5288927551138177, b: -4.450627600247528, normalizer: 0.463143,
                        maxTrue: 1.109656206367124, minTrue: 1.0914425266009675, maxFalse: 1.0887229955132125, minFalse: 0.9052858972210456),
        ],
        "DeepID": [
            .cosine: Fit(w: -1.1109389867203003, b: -1.644356005882629, normalizer: 0.142463,
                        maxTrue: 16.114369377586183, minTrue: 15.966222060549578, maxFalse: 15.96057368926546, minFalse: 14.153198282635255),
            .euclidean: Fit(w: -4.267900227772648, b: -0.11777629548659044, normalizer: 124.194689,
                        maxTrue: 27.2342405984107, minTrue: 16.08201206739819, maxFalse: 15.90739039527823, minFalse: 1.230125408063358),
            .euclideanL2: Fit(w: -3.6681410379067394, b: -0.9230555193862335, normalizer: 0.533784,
                        maxTrue: 21.681829939622233, minTrue: 17.57160935306287, maxFalse: 17.548244679217202, minFalse: 5.309829288484883),
            .angular: Fit(w: -0.2707576106983799, b: -3.87004749575164, normalizer: 0.171993,
                        maxTrue: 2.02619851743467, minTrue: 2.0220784432439474, maxFalse: 2.021498115793411, minFalse: 1.951974654804089),
        ],
        "DeepFace": [
            .cosine: Fit(w: -5.415666808301125, b: 1.4142777745857174, normalizer: 0.379428,
                        maxTrue: 74.38935817923884, minTrue: 54.25111593547536, maxFalse: 54.16884369236297, minFalse: 34.51159270342188),
            .euclidean: Fit(w: -7.001068623335827, b: 5.229677082777916, normalizer: 85.997482,
                        maxTrue: 90.45531547409938, minTrue: 50.79114821321717, maxFalse: 50.4218117539695, minFalse: 14.53693626301508),
            .euclideanL2: Fit(w: -6.520866920809606, b: 3.750706572243227, normalizer: 0.871123,
                        maxTrue: 80.42595166943502, minTrue: 39.6419822387709, maxFalse: 39.578029519563, minFalse: 12.677597535252195),
            .angular: Fit(w: -0.20178503977417342, b: -4.960267621006636, normalizer: 0.2869,
                        maxTrue: 0.6803996880922583, minTrue: 0.6801854995078236, maxFalse: 0.6759509854967268, minFalse: 0.6573199053945571),
        ],
    ]
}

import Foundation
